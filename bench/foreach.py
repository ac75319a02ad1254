"""Big ForEach loops: wall time of one execution, from creation to its terminal state.

Kestra's 0.23 release notes measured these flows (a ForEach of 159 Log or OutputValues
tasks) at 13 s and 24 s; the goal here is under 0.3 s each, in process, on one machine.
Each flow runs `--runs` times on one engine; the table shows the best and the mean, plus
the engine's own start-to-end duration (Kestra's latency metric).

    .venv/bin/python bench/foreach.py [--runs 5] [--database-url sqlite:///tmp/k.db|postgres]
        [--daemons N]

`--database-url postgres` runs on a fresh PostgreSQL database, dropped afterwards.
`--daemons N` (PostgreSQL) adds N-1 `kestrad serve --roles executor,worker` processes on
the same database, so the executions' work is shared with them. An execution another
process ends wakes nobody here, so the wait then polls every `--poll` seconds; the engine's
own start-to-end duration does not depend on that.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from common import (
    backend_of,
    cpu_seconds,
    database,
    flow_ref,
    flows_dir,
    start_serve,
    state_duration,
    stop_process,
    table,
    write_results,
)

from kestrad.runtime.loop import run_async

# (file, Kestra's published figure)
FLOWS = (
    ("foreach160-log.yml", "13 s (0.23), 44 s (0.22)"),
    ("foreach160-outputs.yml", "24 s (0.23), 44 s (0.22)"),
    ("benchmark03-foreach.yml", "best of 5 (no figure)"),
)
GOAL_SECONDS = 0.3


async def wait_polling(engine: Any, execution_id: str, timeout: float, poll: float) -> Any:
    """Like `engine.wait_for`, but also reads the execution every `poll` seconds: another
    daemon's executor may end it, and that sets no event in this process."""
    import asyncio

    from kestrad.model.state import TERMINATED

    deadline = time.monotonic() + timeout
    event = engine.hub.watch(execution_id)
    try:
        while True:
            event.clear()
            execution = await engine.store.get_execution(execution_id)
            if execution is not None and execution.state.current in TERMINATED:
                return execution
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                state = execution.state.current if execution else "missing"
                raise TimeoutError(f"execution {execution_id} still {state} after {timeout}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(remaining, poll))
    finally:
        engine.hub.unwatch(execution_id, event)


async def run_once(
    engine: Any, namespace: str, flow_id: str, timeout: float, poll: float | None = None
) -> dict[str, Any]:
    """One execution, timed from the create call to the moment it is seen terminal."""
    from kestrad.runtime.engine import execution_to_json

    started = time.perf_counter()
    created = await engine.create_execution(namespace, flow_id)
    if poll is None:
        done = await engine.wait_for(created.id, timeout=timeout)
    else:
        done = await wait_polling(engine, created.id, timeout, poll)
    wall = time.perf_counter() - started
    data = execution_to_json(done)
    return {
        "wall": wall,
        "engine": state_duration(data),
        "state": data["state"]["current"],
        "taskRuns": len(data["taskRunList"]),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    async with database(args.database_url) as url:
        return await run_on(args, url)


async def run_on(args: argparse.Namespace, url: str | None) -> dict[str, Any]:
    from kestrad.config import Config
    from kestrad.runtime.engine import Engine

    results: dict[str, Any] = {}
    workdir = Path(tempfile.mkdtemp(prefix="kestrad-foreach-"))
    config = None
    if backend_of(url) == "postgresql":
        # Internal storage shared by every process (the default is /var/lib/kestrad).
        config = Config()
        config.storage.path = str(workdir / "storage")
    daemons: list[subprocess.Popen] = []
    poll = args.poll if args.daemons > 1 else None
    try:
        async with Engine.open(url, config=config) as engine:
            sources = {}
            for file, _ in FLOWS:
                path = args.flows / file
                sources[file] = path.read_text(encoding="utf-8")
                await engine.deploy_source(sources[file], file=str(path))
            for index in range(1, args.daemons):
                daemons.append(
                    start_serve(
                        workdir / f"daemon{index + 1}",
                        url,
                        roles="executor,worker",
                        storage=workdir / "storage",
                    )
                )
            await wait_registered(engine, daemons, workdir)
            for file, _ in FLOWS:
                namespace, flow_id = flow_ref(sources[file])
                cpu = time.process_time()
                daemon_cpu = [cpu_seconds(d.pid) for d in daemons]
                runs = [
                    await run_once(engine, namespace, flow_id, args.timeout, poll)
                    for _ in range(args.runs)
                ]
                walls = [run["wall"] for run in runs]
                engine_times = [run["engine"] for run in runs if run["engine"] is not None]
                results[file] = {
                    "best": min(walls),
                    "mean": statistics.fmean(walls),
                    "engineBest": min(engine_times) if engine_times else None,
                    "states": sorted({run["state"] for run in runs}),
                    "taskRuns": runs[-1]["taskRuns"],
                    "runs": runs,
                }
                if daemons:
                    # CPU seconds spent by this process and by each extra daemon on the
                    # flow's runs: how the work was shared.
                    results[file]["cpuSeconds"] = {
                        "bench": round(time.process_time() - cpu, 3),
                        "daemons": [
                            round(cpu_seconds(d.pid) - before, 3)
                            for d, before in zip(daemons, daemon_cpu, strict=True)
                        ],
                    }
    finally:
        for process in daemons:
            stop_process(process)
        problems = {}
        for index in range(1, args.daemons):
            log = workdir / f"daemon{index + 1}" / "daemon.log"
            with contextlib.suppress(OSError):
                bad = [
                    line
                    for line in log.read_text(errors="replace").splitlines()
                    if any(word in line for word in ("WARNING", "ERROR", "Trace"))
                ]
                if bad:
                    problems[f"daemon{index + 1}"] = bad[:20]
        shutil.rmtree(workdir, ignore_errors=True)
    if problems:
        print(f"warnings in the daemons' logs: {problems}")
        results["_daemonLogProblems"] = problems
    return results


async def wait_registered(engine: Any, daemons: list[subprocess.Popen], workdir: Path) -> None:
    """Until every extra daemon has its instance row RUNNING (then a moment for its loops)."""
    if not daemons:
        return
    deadline = time.monotonic() + 60
    wanted = {d.pid for d in daemons}
    while time.monotonic() < deadline:
        for index, process in enumerate(daemons):
            if process.poll() is not None:
                log = (workdir / f"daemon{index + 2}" / "daemon.log").read_text()
                raise SystemExit(f"daemon {index + 2} exited ({process.returncode}):\n{log}")
        running = {row.pid for row in await engine.store.list_instances() if row.state == "RUNNING"}
        if wanted <= running:
            await anyio.sleep(1.0)
            return
        await anyio.sleep(0.1)
    raise SystemExit("the extra daemons did not register within 60 s")


def report(results: dict[str, Any]) -> str:
    rows = []
    for file, kestra in FLOWS:
        r = results[file]
        states = ",".join(r["states"])
        verdict = "ok" if r["best"] < GOAL_SECONDS and r["states"] == ["SUCCESS"] else "MISSED"
        engine_best = "n/a" if r["engineBest"] is None else f"{r['engineBest']:.3f} s"
        rows.append(
            [
                file,
                states,
                r["taskRuns"],
                f"{r['best']:.3f} s",
                f"{r['mean']:.3f} s",
                engine_best,
                kestra,
                f"{verdict} (< {GOAL_SECONDS} s)",
            ]
        )
    headers = ["flow", "state", "task runs", "best", "mean", "engine best", "Kestra", "goal"]
    return table(headers, rows)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="executions per flow (default 5)")
    parser.add_argument(
        "--database-url",
        default=None,
        help="default: a temporary SQLite file; `postgres`: a fresh database on "
        "postgresql://postgres@127.0.0.1:5432, dropped afterwards",
    )
    parser.add_argument(
        "--daemons",
        type=int,
        default=1,
        help="N > 1 (PostgreSQL): N-1 extra `kestrad serve --roles executor,worker`",
    )
    parser.add_argument(
        "--poll",
        type=float,
        default=0.01,
        help="with --daemons > 1: seconds between reads of a running execution",
    )
    parser.add_argument("--output", help="results file name (default: foreach[_<backend>_<N>d])")
    parser.add_argument("--flows", type=Path, default=flows_dir())
    parser.add_argument("--timeout", type=float, default=120.0, help="per execution, seconds")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results")
    args = parser.parse_args()
    if args.daemons < 1:
        parser.error("--daemons must be at least 1")
    if args.daemons > 1 and backend_of(args.database_url) != "postgresql":
        parser.error("--daemons N > 1 needs --database-url postgres (or a postgresql:// url)")
    return args


if __name__ == "__main__":
    arguments = parse_args()
    outcome = run_async(main, arguments)
    problems = outcome.pop("_daemonLogProblems", None)
    print(report(outcome))
    cpu_rows = [
        [
            file,
            f"{r['cpuSeconds']['bench']:.2f} s",
            *(f"{c:.2f} s" for c in r["cpuSeconds"]["daemons"]),
        ]
        for file, r in outcome.items()
        if "cpuSeconds" in r
    ]
    if cpu_rows:
        extra = [f"daemon {i + 2}" for i in range(arguments.daemons - 1)]
        print("\nCPU spent on each flow's runs:")
        print(table(["flow", "this process", *extra], cpu_rows))
    if not arguments.no_write:
        backend = backend_of(arguments.database_url)
        settings = {
            "runs": arguments.runs,
            "databaseUrl": arguments.database_url,
            "backend": backend,
            "daemons": arguments.daemons,
            "poll": arguments.poll if arguments.daemons > 1 else None,
        }
        name = "foreach"
        if backend != "sqlite" or arguments.daemons > 1:
            name += f"_{backend}_{arguments.daemons}d"
        data = {"settings": settings, "flows": outcome}
        if problems:
            data["daemonLogProblems"] = problems
        path = write_results(arguments.output or name, data)
        print(f"\nwritten to {path}")
