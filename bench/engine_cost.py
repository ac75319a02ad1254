"""What one execution costs the engine alone: SQL statements, transactions, CPU.

No HTTP and no daemon: an in-process engine on a fresh SQLite file creates executions of
benchmark01 (webhook → OutputValues → Log) at a fixed rate, as the webhook would, and
waits for each to end. The store's statements (an `executemany` counts once, its rows
apart) and write transactions are counted at the SQLite connector, and the process's CPU
(event loop plus the database threads, user + system) is read around the measured
window, with the share of each thread. The figures are per execution; the HTTP layer's
share is what `webhook_load.py` adds. `--show-statements` lists the SQL run per execution
(through sqlite3's trace callback, which costs CPU of its own: the CPU column of such a
run is not comparable).

    .venv/bin/python bench/engine_cost.py [--rates 200,800] [--count 2000] [--output NAME]
        [--show-statements]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import re
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from common import flows_dir, ms, percentile, table, write_results

from kestrad.model.state import TERMINATED
from kestrad.runtime.engine import Engine
from kestrad.runtime.loop import run_async
from kestrad.store import sqlite as sqlite_connector

FLOW = ("benchmarks", "benchmark01")
# A statement's text without its literals (the trace shows parameters expanded).
LITERALS = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")


class Counter:
    """Statements and rows the connector ran, write transactions, and (shown) SQL texts."""

    def __init__(self) -> None:
        self.statements = 0
        self.rows = 0
        self.transactions = 0
        self.texts: collections.Counter[str] = collections.Counter()
        self.on = False

    def install(self) -> None:
        run, in_transaction = sqlite_connector._run, sqlite_connector.in_transaction

        def counted_run(conn: Any, statement: Any) -> object:
            if self.on:
                self.statements += 1
                self.rows += len(getattr(statement, "rows", ())) or 1
            return run(conn, statement)

        def counted_transaction(conn: Any, plan: Any) -> object:
            if self.on:
                self.transactions += 1
            return in_transaction(conn, plan)

        sqlite_connector._run = counted_run
        sqlite_connector.in_transaction = counted_transaction

    def trace(self, role: str):
        def trace(sql: str) -> None:
            self.texts[role + ": " + LITERALS.sub("?", " ".join(sql.split()))[:70]] += 1

        return trace


def thread_cpu() -> dict[str, float]:
    """CPU seconds (user + system) of each thread of this process, by tid."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        out[tid] = (int(fields[11]) + int(fields[12])) / tick
    return out


async def _trace(engine: Engine, counter: Counter | None) -> None:
    connector = engine.store.connector  # type: ignore[attr-defined]
    for role, conn in (("writer", connector._writer), ("reader", connector._reader)):
        callback = counter.trace(role) if counter is not None else None
        await conn._execute(lambda c, cb=callback: c.set_trace_callback(cb), conn._conn)


async def measure(rate: float, count: int, folder: Path, show: bool) -> dict[str, Any]:
    counter = Counter()
    counter.install()
    url = f"sqlite:///{folder}/rate{int(rate)}.db"
    async with Engine.open(url) as engine:
        await engine.deploy_directory(str(flows_dir()))
        ended: set[str] = set()
        done = asyncio.Event()
        wanted: set[str] = set()

        started: dict[str, float] = {}
        latencies: list[float] = []

        def on_change(execution: Any) -> None:
            if execution.state.current in TERMINATED and execution.id in wanted:
                if execution.id not in ended:
                    latencies.append(time.monotonic() - started[execution.id])
                ended.add(execution.id)
                if len(ended) == count:
                    done.set()

        engine.hub.subscribe_executions(on_change)
        for _ in range(20):  # warm caches and templates before counting
            await engine.create_execution(*FLOW)
        await asyncio.sleep(0.5)
        if show:
            await _trace(engine, counter)
        counter.on = True
        threads0 = thread_cpu()
        usage0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        pending: set[asyncio.Task] = set()

        async def create() -> None:
            asked = time.monotonic()
            execution = await engine.create_execution(*FLOW)
            started[execution.id] = asked
            wanted.add(execution.id)

        start = time.monotonic()
        for i in range(count):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(create())
            pending.add(task)
            task.add_done_callback(pending.discard)
        while pending:
            await asyncio.sleep(0.01)
        if len(ended) < count:
            await asyncio.wait_for(done.wait(), timeout=120)
        usage, wall = resource.getrusage(resource.RUSAGE_SELF), time.monotonic() - wall0
        threads = sorted((v - threads0.get(k, 0.0) for k, v in thread_cpu().items()), reverse=True)
        counter.on = False
        if show:
            await _trace(engine, None)
    user, system = usage.ru_utime - usage0.ru_utime, usage.ru_stime - usage0.ru_stime
    if show:
        print(f"SQL per execution at {rate:g}/s:")
        for text, n in counter.texts.most_common():
            if n / count >= 0.01:
                print(f"{n / count:7.2f}  {text}")
    return {
        "rate": rate,
        "executions": count,
        "cpu_ms_per_execution": (user + system) * 1000 / count,
        "user_ms_per_execution": user * 1000 / count,
        "system_ms_per_execution": system * 1000 / count,
        # The busiest threads (the event loop and the SQLite writer, in some order).
        "thread_ms_per_execution": [round(t * 1000 / count, 3) for t in threads[:3]],
        "statements_per_execution": counter.statements / count,
        "rows_per_execution": counter.rows / count,
        "transactions_per_execution": counter.transactions / count,
        "wall": wall,
        # From the create call to the end as the hub told it (the creation's commit,
        # three executor batches and two worker jobs).
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
    }


async def main(args: argparse.Namespace) -> None:
    rows = []
    with tempfile.TemporaryDirectory(prefix="kestrad-cost-") as folder:
        for rate in [float(r) for r in args.rates.split(",")]:
            rows.append(await measure(rate, args.count, Path(folder), args.show_statements))
    print(
        table(
            [
                "rate/s",
                "executions",
                "CPU ms/exec",
                "user + system",
                "busiest threads",
                "statements (rows)/exec",
                "transactions/exec",
                "create→end p50",
                "p99",
            ],
            [
                [
                    f"{r['rate']:g}",
                    r["executions"],
                    f"{r['cpu_ms_per_execution']:.2f}",
                    f"{r['user_ms_per_execution']:.2f} + {r['system_ms_per_execution']:.2f}",
                    " / ".join(f"{t:.2f}" for t in r["thread_ms_per_execution"]),
                    f"{r['statements_per_execution']:.1f} ({r['rows_per_execution']:.1f})",
                    f"{r['transactions_per_execution']:.2f}",
                    ms(r["p50"]),
                    ms(r["p99"]),
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
        "--show-statements", action="store_true", help="list the SQL run, per execution"
    )
    run_async(main, parser.parse_args())
