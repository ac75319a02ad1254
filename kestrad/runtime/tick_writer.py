"""What the scheduler changed since its last write, written in ONE transaction per tick.

The trigger states, deleted triggers, new executions and their log lines of a tick
commit together, so a crash can neither lose a fire nor fire twice (the execution and
the advanced `next_fire_at` commit together). With several daemons on one database the
same transaction renews the scheduler lease (see runtime/leadership.py): a daemon that
lost it finds out there (`LeaseLost`), and that transaction writes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from kestrad.model.execution import Execution
from kestrad.model.records import NewLog
from kestrad.store.base import LeaseLost, SchedulerLease, Store, TriggerKey, TriggerRow
from kestrad.triggers.kind import Fired


class TickWriter:
    """Pending writes of the scheduler, and the transaction that writes them.

    `wake` is called after executions were stored (the executor's wake-up hint).
    """

    def __init__(
        self,
        store: Store,
        *,
        lease: SchedulerLease | None = None,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        # None: the only scheduler on this database, no lease to renew.
        self.lease = lease
        self.wake = wake
        self._renewed = time.monotonic()
        self._dirty: dict[TriggerKey, TriggerRow] = {}
        self._deleted: set[TriggerKey] = set()
        self._executions: list[Execution] = []
        self._logs: list[NewLog] = []
        # Executions of a flush still in flight: not yet visible to the monitor's reads.
        self._flushing: set[str] = set()

    # -- recording ---------------------------------------------------------------------------
    def mark(self, row: TriggerRow) -> None:
        """`row` changed: write it with the next flush."""
        self._dirty[row.key] = row
        self._deleted.discard(row.key)

    def delete(self, key: TriggerKey) -> None:
        """The trigger is gone: delete its row with the next flush."""
        self._dirty.pop(key, None)
        self._deleted.add(key)

    def add(self, fired: Fired) -> None:
        """A fire's execution (and log line) to store with the next flush."""
        self._executions.append(fired.execution)
        if fired.log is not None:
            self._logs.append(fired.log)

    def is_dirty(self, key: TriggerKey) -> bool:
        return key in self._dirty

    def has_writes(self) -> bool:
        return bool(self._dirty or self._deleted or self._executions or self._logs)

    def pending_executions(self) -> list[Execution]:
        return list(self._executions)

    def unwritten(self) -> set[str]:
        """Ids of executions fired but not committed yet (pending, or being flushed)."""
        return self._flushing.union(e.id for e in self._executions)

    # -- writing -----------------------------------------------------------------------------
    async def flush(self) -> None:
        """Write the changed states, deletions and new executions: one transaction.

        On failure everything stays pending and is written by the next tick, so a fire
        whose state already advanced in memory is not lost.
        """
        if not self.has_writes():
            return
        stamp = time.time()
        # Take the work out first: changes made while the write is awaited (the monitor
        # releasing a lock, say) belong to the next flush, not to a clear() after this one.
        dirty, self._dirty = self._dirty, {}
        deleted, self._deleted = self._deleted, set()
        executions, self._executions = self._executions, []
        logs, self._logs = self._logs, []
        states = list(dirty.values())
        for row in states:
            row.updated = stamp
        renewed = time.monotonic()
        self._flushing = {e.id for e in executions}
        try:
            await self.store.save_trigger_states(
                states, executions, deleted=list(deleted), logs=logs, lease=self.lease
            )
        except BaseException:
            kept = {k: row for k, row in dirty.items() if k not in self._deleted}
            self._deleted = (deleted - self._dirty.keys()) | self._deleted
            self._dirty = {**kept, **self._dirty}
            self._executions = executions + self._executions
            self._logs = logs + self._logs
            raise
        finally:
            self._flushing = set()
        self._renewed = renewed
        if executions and self.wake is not None:
            self.wake()

    async def renew_lease(self) -> None:
        """An idle leader still renews its lease, every third of its length: it expires
        only when this loop stops (a dead or hung daemon), never between quiet ticks."""
        lease = self.lease
        if lease is None or time.monotonic() - self._renewed < lease.seconds / 3:
            return
        renewed = time.monotonic()
        if not await self.store.claim_scheduler_lease(lease):
            raise LeaseLost(lease.holder)
        self._renewed = renewed
