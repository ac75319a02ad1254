"""What one execution costs the engine alone: SQL statements, transactions, CPU.

No HTTP and no daemon: an in-process engine on a fresh SQLite file creates executions of
benchmark01 (webhook → OutputValues → Log) at a fixed rate, as the webhook would, and
waits for each to end. Every statement the store's connections run is counted through
sqlite3's trace callback, write transactions by their `BEGIN IMMEDIATE`, and the
process's CPU (event loop plus the database threads) is read around the measured window.
The figures are per execution; the HTTP layer's share is what `webhook_load.py` adds.

    .venv/bin/python bench/engine_cost.py [--rates 200,800] [--count 2000] [--output NAME]
        [--show-statements]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from common import flows_dir, table, write_results

from kestrad.model.state import TERMINATED
from kestrad.runtime.engine import Engine
from kestrad.runtime.loop import run_async

FLOW = ("benchmarks", "benchmark01")
# A statement's text without its literals (the trace shows parameters expanded).
LITERALS = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")


class Counter:
    """Statements per connection role, and write transactions, from trace callbacks."""

    def __init__(self) -> None:
        self.statements: collections.Counter[str] = collections.Counter()
        self.transactions = 0
        self.texts: collections.Counter[str] = collections.Counter()

    def tracer(self, role: str):
        def trace(sql: str) -> None:
            self.statements[role] += 1
            self.texts[role + ": " + LITERALS.sub("?", " ".join(sql.split()))[:70]] += 1
            if sql.startswith("BEGIN"):
                self.transactions += 1

        return trace


async def measure(rate: float, count: int, folder: Path, show: bool) -> dict[str, Any]:
    url = f"sqlite:///{folder}/rate{int(rate)}.db"
    async with Engine.open(url) as engine:
        await engine.deploy_directory(str(flows_dir()))
        connector = engine.store.connector  # type: ignore[attr-defined]
        counter = Counter()
        ended: set[str] = set()
        done = asyncio.Event()
        wanted: set[str] = set()

        def on_change(execution: Any) -> None:
            if execution.state.current in TERMINATED and execution.id in wanted:
                ended.add(execution.id)
                if len(ended) == count:
                    done.set()

        engine.hub.subscribe_executions(on_change)
        for _ in range(20):  # warm caches and templates before counting
            await engine.create_execution(*FLOW)
        await asyncio.sleep(0.5)
        await connector._writer._execute(
            lambda c: c.set_trace_callback(counter.tracer("writer")), connector._writer._conn
        )
        await connector._reader._execute(
            lambda c: c.set_trace_callback(counter.tracer("reader")), connector._reader._conn
        )
        cpu0, wall0 = time.process_time(), time.monotonic()
        pending: set[asyncio.Task] = set()

        async def create() -> None:
            execution = await engine.create_execution(*FLOW)
            wanted.add(execution.id)
            if len(ended) == count:
                done.set()

        start = time.monotonic()
        for i in range(count):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(create())
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.wait_for(done.wait(), timeout=120)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        await connector._writer._execute(
            lambda c: c.set_trace_callback(None), connector._writer._conn
        )
        await connector._reader._execute(
            lambda c: c.set_trace_callback(None), connector._reader._conn
        )
    if show:
        print(f"statements per execution at {rate:g}/s:")
        for text, n in counter.texts.most_common():
            if n / count >= 0.01:
                print(f"{n / count:7.2f}  {text}")
    return {
        "rate": rate,
        "executions": count,
        "cpu_ms_per_execution": cpu * 1000 / count,
        "statements_per_execution": sum(counter.statements.values()) / count,
        "writer_statements_per_execution": counter.statements["writer"] / count,
        "reader_statements_per_execution": counter.statements["reader"] / count,
        "transactions_per_execution": counter.transactions / count,
        "wall": wall,
    }


async def main(args: argparse.Namespace) -> None:
    rows = []
    with tempfile.TemporaryDirectory(prefix="kestrad-cost-") as folder:
        for rate in [float(r) for r in args.rates.split(",")]:
            rows.append(await measure(rate, args.count, Path(folder), args.show_statements))
    print(
        table(
            ["rate/s", "executions", "CPU ms/exec", "statements/exec", "transactions/exec"],
            [
                [
                    f"{r['rate']:g}",
                    r["executions"],
                    f"{r['cpu_ms_per_execution']:.2f}",
                    f"{r['statements_per_execution']:.1f}",
                    f"{r['transactions_per_execution']:.2f}",
                ]
                for r in rows
            ],
        )
    )
    if args.output:
        print(f"wrote {write_results(args.output, {'rows': rows})}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="200,800")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--output", default=None)
    parser.add_argument(
        "--show-statements", action="store_true", help="list statements by text, per execution"
    )
    run_async(main, parser.parse_args())
