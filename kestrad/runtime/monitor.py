"""The scheduler's monitoring loop: stale trigger locks, executions that never started,
and trigger changes written by other processes (the CLI).

It runs in its own task, on its own (slower) period, and only reads the store: Kestra ran
these checks inside its evaluation loop, which then took a minute under load and missed
schedules. What it finds is handed to the scheduler's in-memory index; the evaluation
loop's next transaction writes it.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import anyio

from kestrad.model.durations import parse_duration
from kestrad.model.state import CREATED, TERMINATED, parse_iso
from kestrad.runtime.scheduler import Scheduler

log = logging.getLogger("kestrad.monitor")

_YIELD_EVERY = 500
_CHUNK = 500


class MonitorReport:
    """What one check found (for tests and metrics)."""

    def __init__(self) -> None:
        self.released: list[str] = []
        self.not_started: list[str] = []
        self.synced = 0


class TriggerMonitor:
    """Checks the scheduler's locks every `scheduler.monitor_interval` (default 10 s)."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.store = scheduler.store
        config = scheduler.config
        self.interval = parse_duration(config.monitor_interval).total_seconds()
        self.not_started_after = parse_duration(config.not_started_after).total_seconds()
        self._reported: set[str] = set()
        self._watermark = time.time()

    async def run(self) -> None:
        """Check, then wait, until cancelled; one failed check only logs."""
        while True:
            await anyio.sleep(self.interval)
            try:
                await self.check()
            except Exception:
                log.exception("trigger monitor check failed")

    async def check(self) -> MonitorReport:
        report = MonitorReport()
        await self._sync(report)
        locks = self.scheduler.locked()
        ids = list(locks)
        found: dict[str, tuple[str, str]] = {}
        for start in range(0, len(ids), _CHUNK):
            for brief in await self.store.execution_briefs(ids[start : start + _CHUNK]):
                found[brief.id] = (brief.state, brief.start_date)
            await anyio.sleep(0)
        now = datetime.now(UTC)
        for count, (execution_id, key) in enumerate(locks.items()):
            if count % _YIELD_EVERY == 0:
                # Let the evaluation loop tick in between: this loop may walk many locks.
                await anyio.sleep(0)
            state = found.get(execution_id)
            if state is None or state[0] in TERMINATED:
                ended = state[0] if state else None
                if self.scheduler.release(key, execution_id, ended):
                    report.released.append(execution_id)
                    log.info(
                        "trigger %s/%s %s unlocked: execution %s %s",
                        *key,
                        execution_id,
                        "ended " + ended if ended else "no longer exists",
                    )
                continue
            age = (now - parse_iso(state[1])).total_seconds()
            if state[0] == CREATED and age > self.not_started_after:
                report.not_started.append(execution_id)
                if execution_id not in self._reported:
                    self._reported.add(execution_id)
                    log.warning(
                        "execution %s created by trigger %s/%s %s has not started after %.0fs",
                        execution_id,
                        *key,
                        age,
                    )
        self._reported &= set(locks)
        return report

    async def _sync(self, report: MonitorReport) -> None:
        """Take in rows other writers changed since the last check (indexed on `updated`)."""
        rows = await self.store.triggers_updated_since(self._watermark)
        if rows:
            self._watermark = max(r.updated for r in rows)
            report.synced = self.scheduler.apply_external(rows)
