"""Scheduler: startup with many triggers, and the tick's cost with 0, 100 and 1 000 due.

Kestra's figures: startup 8 s at 100 000 flows and triggers (20 min before the map
cache), a loop step of 30 ms at 1 000, a 40 ms loop once monitoring moved out. Goals
here: startup under 2 s at 100 000 (flows already in the store), a tick under 10 ms
with 100 due triggers whatever the total.

Trigger rows are inserted straight into the table; flows come from one parsed template
copied under N ids, so what is timed is the scheduler, not YAML parsing. "Start" is
`Scheduler.start()` (one query, one pass over the flows) plus the first tick. Before each
measured tick, `due` triggers are made due and unlocked (untimed); the tick pops them,
builds their executions and writes states and executions in one transaction.

    .venv/bin/python bench/scheduler.py [--sizes 1000,10000,100000] [--ticks 60]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import msgspec
from common import ms, percentile, table, write_results

from kestrad.expr.engine import Renderer
from kestrad.flows.loader import load_flow
from kestrad.runtime.scheduler import Scheduler
from kestrad.store.base import FlowRow, SchedulerLease
from kestrad.store.factory import open_store
from kestrad.triggers.registry import plan_for

TEMPLATE = """
id: template
namespace: bench.scheduler
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: "{{ trigger.date }}"
triggers:
  - id: schedule
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 3 1 1 *"  # yearly: no natural fire during the run
    timezone: Europe/Berlin
"""
DUE_COUNTS = (0, 100, 1000)


class Flows:
    """A FlowSource of N copies of one parsed flow (the FlowCache's two read methods)."""

    def __init__(self, count: int) -> None:
        template = load_flow(TEMPLATE)
        template.revision = 1
        self.flows = {}
        self._rows = []
        for i in range(count):
            flow = msgspec.structs.replace(template, id=f"f{i:06d}")
            self.flows[(flow.namespace, flow.id)] = flow
            self._rows.append(
                FlowRow(namespace=flow.namespace, id=flow.id, revision=1, source="", hash="")
            )
        self.plan = plan_for(template.triggers[0])

    def rows(self) -> list[FlowRow]:
        return self._rows

    def latest(self, namespace: str, flow_id: str) -> Any:
        return self.flows.get((namespace, flow_id))


def seed(path: str, flows: Flows, now: float) -> None:
    """Insert one trigger row per flow, next fire in the future, in one transaction."""
    first = flows.plan.next_after(now)
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO triggers (namespace, flow_id, trigger_id, next_fire_at, fingerprint,"
            " updated) VALUES (?, ?, 'schedule', ?, ?, ?)",
            [(row.namespace, row.id, first, flows.plan.fingerprint, now) for row in flows.rows()],
        )
    conn.close()


async def measure(size: int, ticks: int, busy: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kestrad-bench-") as folder:
        path = str(Path(folder) / "bench.db")
        store = open_store(f"sqlite:///{path}")
        await store.migrate()
        flows = Flows(size)
        now = time.time()
        seed(path, flows, now)
        clock = [now]
        # As in the daemon: every write of fires renews the scheduler lease in its transaction.
        lease = SchedulerLease(holder="bench", seconds=15.0)
        await store.claim_scheduler_lease(lease)
        scheduler = Scheduler(
            store, flows, renderer=Renderer(), clock=lambda: clock[0], lease=lease
        )
        begun = time.perf_counter()
        await scheduler.start()
        started = time.perf_counter() - begun
        await scheduler.tick()
        first_tick = time.perf_counter() - begun
        keys = [(r.namespace, r.id, "schedule") for r in flows.rows()]
        result: dict[str, Any] = {
            "triggers": size,
            "start_s": started,
            "start_to_first_tick_s": first_tick,
        }
        cursor = 0
        for due in DUE_COUNTS:
            if due > size:
                continue
            durations = []
            for _ in range(ticks):
                clock[0] += 1.0
                for _ in range(due):
                    key = keys[cursor % size]
                    cursor += 1
                    row = scheduler.state(key)
                    if row.execution_id:
                        scheduler.release(key, row.execution_id, "SUCCESS")
                    row.next_fire_at = clock[0]
                    scheduler.index.push(key)
                await scheduler.flush()  # the releases: not part of the measured tick
                report = await scheduler.tick()
                assert len(report.created) == due, (len(report.created), due)
                durations.append(report.seconds)
            result[f"tick_{due}_p50_s"] = percentile(durations, 0.5)
            result[f"tick_{due}_p99_s"] = percentile(durations, 0.99)
        if busy:
            result.update(
                await measure_with_busy_monitor(store, scheduler, keys, clock, path, ticks)
            )
        await store.close()
        return result


async def measure_with_busy_monitor(
    store: Any, scheduler: Scheduler, keys: list[Any], clock: list[float], path: str, ticks: int
) -> dict[str, Any]:
    """Ticks with 100 due triggers while the other half of the triggers are locked by
    RUNNING executions and the monitoring loop checks those locks without pause: the
    monitoring loop is separate, so the tick should not notice it."""
    from kestrad.model.state import now_iso
    from kestrad.runtime.monitor import TriggerMonitor

    half = len(keys) // 2
    locked = keys[half:]
    created = now_iso()
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO executions (id, namespace, flow_id, flow_revision, state, start_date,"
            " value) VALUES (?, ?, ?, 1, 'RUNNING', ?, x'7b7d')",
            [(f"run-{i}", key[0], key[1], created) for i, key in enumerate(locked)],
        )
    conn.close()
    for i, key in enumerate(locked):
        scheduler.locks.hold(scheduler.state(key), f"run-{i}")
    monitor = TriggerMonitor(scheduler)
    checks: list[float] = []
    durations: list[float] = []

    async def monitor_loop() -> None:
        while True:
            begun = time.perf_counter()
            await monitor.check()
            checks.append(time.perf_counter() - begun)
            await anyio.sleep(0)

    cursor = 0
    async with anyio.create_task_group() as tg:
        tg.start_soon(monitor_loop)
        for _ in range(ticks):
            clock[0] += 1.0
            for _ in range(100):
                key = keys[cursor % half]
                cursor += 1
                row = scheduler.state(key)
                if row.execution_id:
                    scheduler.release(key, row.execution_id, "SUCCESS")
                row.next_fire_at = clock[0]
                scheduler.index.push(key)
            await scheduler.flush()
            report = await scheduler.tick()
            durations.append(report.seconds)
        tg.cancel_scope.cancel()
    return {
        "busy_running_executions": len(locked),
        "busy_monitor_checks": len(checks),
        "busy_monitor_check_p50_s": percentile(checks, 0.5) if checks else None,
        "busy_tick_100_p50_s": percentile(durations, 0.5),
        "busy_tick_100_p99_s": percentile(durations, 0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--ticks", type=int, default=60)
    parser.add_argument(
        "--busy-size",
        type=int,
        default=200_000,
        help="triggers for the busy-monitor point (half of them locked by running executions)",
    )
    args = parser.parse_args()
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        results.append(anyio.run(measure, size, args.ticks))
        print(f"measured {size} triggers", flush=True)
    busy = anyio.run(measure, args.busy_size, args.ticks, True)
    print(f"measured {args.busy_size} triggers with the monitor busy", flush=True)
    rows = []
    for r in results:
        row = [f"{r['triggers']:,}", ms(r["start_s"]), ms(r["start_to_first_tick_s"])]
        for due in DUE_COUNTS:
            p50, p99 = r.get(f"tick_{due}_p50_s"), r.get(f"tick_{due}_p99_s")
            row.append("n/a" if p50 is None else f"{ms(p50)} / {ms(p99)}")
        rows.append(row)
    headers = ["triggers", "start", "start → first tick"]
    headers += [f"tick p50 / p99, {due} due" for due in DUE_COUNTS]
    print(table(headers, rows))
    print(
        table(
            ["running executions (locks)", "monitor check p50", "tick p50 / p99, 100 due"],
            [
                [
                    f"{busy['busy_running_executions']:,}",
                    ms(busy["busy_monitor_check_p50_s"] or 0.0),
                    f"{ms(busy['busy_tick_100_p50_s'])} / {ms(busy['busy_tick_100_p99_s'])}",
                ]
            ],
        )
    )
    path = write_results(
        "scheduler",
        {
            "kestra": "startup 8 s at 100 000; loop step 30 ms at 1 000; loop 40 ms",
            "goals": {"start_100k_s": 2.0, "tick_100_due_s": 0.010},
            "ticks_per_point": args.ticks,
            "results": results,
            "busy_monitor": busy,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
