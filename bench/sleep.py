"""Open-loop load on a flow whose only task is a 5 s Sleep: how many waiting executions
the daemon holds at once, and whether each still ends on time.

A Sleep does nothing for 5 s, so the ideal latency (start to end of each execution) is
5 s at any rate; a daemon that parks the wait on a worker slot instead caps the rate at
slots / 5 s and the latency grows with the backlog. The load is bench/webhook_load.py's
(same daemon, same open-loop generator, same measures) on `sleep5s.yml`. Goal: 200
executions/s (12 000/min) with p99 (start to end) at most 5.2 s on the default
configuration; Kestra's published figure is 1 500/min at 5.1 s.

    .venv/bin/python bench/sleep.py [--rates 50,100,200] [--duration 10] [--warmup 2]
        [--client httpx|raw] [--database-url URL|postgres] [--output NAME]
"""

from __future__ import annotations

import argparse
from typing import Any

import anyio
import webhook_load
from common import flows_dir, ms, table, write_results

FLOW_FILE = "sleep5s.yml"
GOAL = "200 executions/s (12 000/min) with p99 (start to end) at most 5.2 s, default config"
KESTRA_FIGURE = "1 500 executions/min at 5.1 s (Kestra's sleep benchmark)"


def report(data: dict[str, Any]) -> None:
    rows = [
        [
            f"{r['rate']:g}",
            r["executions"],
            r["errors"],
            ms(r["start_to_end"]["p50"]),
            ms(r["start_to_end"]["p99"]),
            ms(r["start_to_end"]["max"]),
            ms(r["request_to_end"]["p99"]),
            f"{r['completed_rate']:.1f}/s",
            f"{r['daemon_cpu']:.0%}",
        ]
        for r in data["results"]
    ]
    print(f"\n{FLOW_FILE} via webhook ({data['mode']}, {data['backend']}):")
    headers = ["rate/s", "executions", "errors", "p50", "p99", "max", "req→end p99"]
    print(table([*headers, "completed", "daemon CPU"], rows))
    print(f"goal: {GOAL}; Kestra: {KESTRA_FIGURE}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rates",
        type=lambda text: [float(x) for x in text.split(",") if x.strip()],
        default=[50.0, 100.0, 200.0],
        help="comma-separated request rates per second",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per rate")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per rate")
    parser.add_argument("--drain", type=float, default=300.0, help="max wait for the backlog")
    parser.add_argument("--connections", type=int, default=128, help="client connections")
    parser.add_argument("--flows", default=str(flows_dir()), help="benchmark flows folder")
    parser.add_argument("--client", default="raw", choices=["httpx", "raw"])
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--output", default="sleep", help="results file name")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    # webhook_load's own options this benchmark does not vary.
    args.idle, args.inprocess, args.synchronous = 1.0, False, "FULL"
    args.daemons, args.processes = 1, 1
    webhook_load.FLOW_FILE = FLOW_FILE
    data = anyio.run(webhook_load.bench, args, backend="asyncio")
    data["goal"], data["kestra"] = GOAL, KESTRA_FIGURE
    report(data)
    print(f"results: {write_results(args.output, data)}")


if __name__ == "__main__":
    main()
