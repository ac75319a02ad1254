"""Big ForEach loops: wall time of one execution, from creation to its terminal state.

Kestra's 0.23 release notes measured these flows (a ForEach of 159 Log or OutputValues
tasks) at 13 s and 24 s; the goal here is under 0.3 s each, in process, on one machine.
Each flow runs `--runs` times on one engine; the table shows the best and the mean, plus
the engine's own start-to-end duration (Kestra's latency metric).

    .venv/bin/python bench/foreach.py [--runs 5] [--database-url sqlite:///tmp/k.db]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

from common import flow_ref, flows_dir, state_duration, table, write_results

from kestrad.runtime.loop import run_async

# (file, Kestra's published figure)
FLOWS = (
    ("foreach160-log.yml", "13 s (0.23), 44 s (0.22)"),
    ("foreach160-outputs.yml", "24 s (0.23), 44 s (0.22)"),
    ("benchmark03-foreach.yml", "best of 5 (no figure)"),
)
GOAL_SECONDS = 0.3


async def run_once(engine: Any, namespace: str, flow_id: str, timeout: float) -> dict[str, Any]:
    """One execution, timed from the create call to the moment it is seen terminal."""
    from kestrad.runtime.engine import execution_to_json

    started = time.perf_counter()
    created = await engine.create_execution(namespace, flow_id)
    done = await engine.wait_for(created.id, timeout=timeout)
    wall = time.perf_counter() - started
    data = execution_to_json(done)
    return {
        "wall": wall,
        "engine": state_duration(data),
        "state": data["state"]["current"],
        "taskRuns": len(data["taskRunList"]),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    from kestrad.runtime.engine import Engine

    results: dict[str, Any] = {}
    async with Engine.open(args.database_url) as engine:
        for file, _ in FLOWS:
            path = args.flows / file
            source = path.read_text(encoding="utf-8")
            await engine.deploy_source(source, file=str(path))
            namespace, flow_id = flow_ref(source)
            runs = [
                await run_once(engine, namespace, flow_id, args.timeout) for _ in range(args.runs)
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
    return results


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
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--flows", type=Path, default=flows_dir())
    parser.add_argument("--timeout", type=float, default=120.0, help="per execution, seconds")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results")
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    outcome = run_async(main, arguments)
    print(report(outcome))
    if not arguments.no_write:
        settings = {"runs": arguments.runs, "databaseUrl": arguments.database_url}
        path = write_results("foreach", {"settings": settings, "flows": outcome})
        print(f"\nwritten to {path}")
