"""Whole-process start-up: `kestrad run` of a trivial flow and of the ForEach-160 flow,
wall time from exec to exit, the median of N runs (each in a fresh temporary folder, so
each migrates its own SQLite file as a first run does).

Goal (issue 15 item 5): a trivial run in at most 0.2 s, the ForEach-160 flow under
0.35 s. Imports dominate a one-shot run, so command groups, task modules, Jinja2 and the
plugin scan load lazily (httpx only when an HTTP task runs). The runs use compiled
bytecode (the warm-up run writes it), as an installed kestrad does.

    .venv/bin/python bench/startup.py [--runs 10] [--output startup]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO_ROOT, flows_dir, loadavg, table, write_results

TRIVIAL = """id: hello
namespace: bench.startup
tasks:
  - id: hi
    type: io.kestra.plugin.core.log.Log
    message: hi
"""
FOREACH = "foreach160-log.yml"
GOAL = "trivial flow <= 0.2 s, ForEach-160 < 0.35 s, whole process"


def one_run(flow: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one `kestrad run` of `flow`, from exec to exit, in a
    fresh folder. CPU (user + system) is the figure to compare on a machine other work
    loads: wall time there measures the scheduler as much as the daemon."""
    with tempfile.TemporaryDirectory(prefix="kestrad-startup-") as folder:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HOME": folder}
        # An installed kestrad runs from compiled bytecode (pip compiles on install, a
        # source tree caches it on first run); a shell that sets PYTHONDONTWRITEBYTECODE
        # would have every run compile ~200 modules from source, which measures the
        # compiler, not the start.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        command = [sys.executable, "-m", "kestrad", "run", str(flow)]
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        assert process.stderr is not None
        errors = process.stderr.read()
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"kestrad run {flow} failed ({process.returncode}):\n{errors[-2000:]!r}")
    return elapsed, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs per flow (the median counts)")
    parser.add_argument("--flows", default=str(flows_dir()), help="benchmark flows folder")
    parser.add_argument("--output", default="startup", help="results file name")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        trivial = Path(folder) / "trivial.yml"
        trivial.write_text(TRIVIAL)
        cases = {"trivial": trivial, "foreach160": Path(args.flows) / FOREACH}
        load = loadavg()
        results = {}
        for name, flow in cases.items():
            one_run(flow)  # warm the file cache and the bytecode
            runs = [one_run(flow) for _ in range(args.runs)]
            times, cpu = [r[0] for r in runs], [r[1] for r in runs]
            results[name] = {
                "median": statistics.median(times),
                "min": min(times),
                "max": max(times),
                "cpu_median": statistics.median(cpu),
                "runs": times,
                "cpu": cpu,
            }
    rows = [
        [
            name,
            f"{r['median']:.3f} s",
            f"{r['min']:.3f} s",
            f"{r['max']:.3f} s",
            f"{r['cpu_median']:.3f} s",
        ]
        for name, r in results.items()
    ]
    print(table(["flow", "wall median", "min", "max", "CPU median"], rows))
    print(f"goal: {GOAL}; load average before: {load}")
    data = {"goal": GOAL, "runs": args.runs, "loadavg_before": load, "results": results}
    print(f"results: {write_results(args.output, data)}")


if __name__ == "__main__":
    main()
