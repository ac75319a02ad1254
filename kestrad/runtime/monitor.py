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
from kestrad.store.outage import Retry

log = logging.getLogger("kestrad.monitor")

_YIELD_EVERY = 500
_CHUNK = 500
_OVERLAP = 5.0  # seconds the change sync looks back past the newest row it has seen


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
        """Sync every scheduler tick, check every lock every `monitor_interval`, until
        cancelled; one failed pass only logs.

        The sync is one indexed query returning only rows changed since the last one, so
        running it every tick is cheap, and it is what makes a trigger unlock promptly
        when its execution ended on ANOTHER daemon (the executor there clears the lock
        and stamps the row); the full check is the backstop for anything the sync missed.
        """
        period = min(self.scheduler.period, self.interval) or self.interval
        next_check = time.monotonic() + self.interval
        outage = Retry(self.store, "syncing trigger changes")  # see store/outage.py
        while True:
            await anyio.sleep(period)
            try:
                if time.monotonic() >= next_check:
                    next_check = time.monotonic() + self.interval
                    await self.check()
                else:
                    await self._sync(MonitorReport())
                outage.succeeded()
            except Exception as exc:
                if not outage.failed(exc):  # an outage is logged once, not every tick
                    log.exception("trigger monitor check failed")

    async def check(self) -> MonitorReport:
        report = MonitorReport()
        await self._sync(report)
        await self._check_locks(self.scheduler.locks.locked(), report)
        return report

    async def _check_locks(
        self, locks: dict[str, tuple[str, str, str]], report: MonitorReport
    ) -> None:
        """Release the locks of ended or vanished executions; report those never started."""
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
                if self.scheduler.locks.release(key, execution_id, ended):
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

    async def _sync(self, report: MonitorReport) -> None:
        """Take in rows other writers changed since the last sync (indexed on `updated`).

        The query looks back `_OVERLAP` seconds before the newest row seen: a writer's
        stamp may be older than a row that committed before it (or come from another
        machine's clock); reading a row twice is harmless, missing one is not.
        """
        rows = await self.store.triggers_updated_since(self._watermark - _OVERLAP)
        if not rows:
            return
        self._watermark = max(self._watermark, max(r.updated for r in rows))
        # Locks released in the store (the execution ended, maybe on another daemon):
        # check those executions now, so stopAfter sees their final state.
        released: dict[str, tuple[str, str, str]] = {}
        for row in rows:
            held = self.scheduler.locks.committed(row.key)
            if held is not None and row.execution_id != held:
                released[held] = row.key
        if released:
            await self._check_locks(released, report)
        report.synced = self.scheduler.apply_external(rows)
