"""Trigger locks: a timed or polling trigger fires again only once the execution it
started has ended.

Two halves. `released_locks` tells the executor which locks the executions it ends
release, written in the transaction that ends them: clearing `triggers.execution_id` in
the executor's own batch means no window exists in which the execution is ended but its
trigger still locked, whatever happens to this process afterwards. `TriggerLocks` is the
scheduler's in-memory side (execution → trigger), which follows through the executor's
`execution_ended` notice; the monitor stays as the safety net.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from kestrad.model.execution import Execution
from kestrad.model.state import TERMINATED
from kestrad.runtime.tick_writer import TickWriter
from kestrad.runtime.trigger_index import FlowSource, TriggerIndex, trigger_of
from kestrad.store.base import TriggerKey, TriggerRow
from kestrad.triggers.registry import kind_named

log = logging.getLogger("kestrad.scheduler")


def released_locks(ended: Iterable[Execution]) -> list[tuple[str, str, str, str]]:
    """(namespace, flow id, trigger id, execution id) of each lock the ended executions held.

    The store clears a lock only while it still names that execution, so a stale entry
    (the lock already released, or taken by a later fire) changes nothing.
    """
    out: list[tuple[str, str, str, str]] = []
    seen: set[str] = set()
    for execution in ended:
        trigger = execution.trigger
        if trigger is None or execution.id in seen:
            continue
        kind = kind_named(trigger.type)
        if kind is not None and kind.locks:  # the scheduler's kinds: one execution at a time
            seen.add(execution.id)
            out.append((execution.namespace, execution.flow_id, trigger.id, execution.id))
    return out


class TriggerLocks:
    """Which execution locks which trigger, and releasing a lock (with `stopAfter`).

    A release changes the trigger's state in the index and marks it for the tick writer;
    the next tick's transaction writes it.
    """

    def __init__(self, index: TriggerIndex, writer: TickWriter, flows: FlowSource) -> None:
        self.index = index
        self.writer = writer
        self.flows = flows
        self._holders: dict[str, TriggerKey] = {}  # execution id → trigger it locks

    def load(self, rows: Iterable[TriggerRow]) -> None:
        """The locks of the stored states, at start."""
        for row in rows:
            if row.execution_id:
                self._holders[row.execution_id] = row.key

    def hold(self, row: TriggerRow, execution_id: str) -> None:
        """`execution_id` now locks `row`'s trigger."""
        row.execution_id = execution_id
        self._holders[execution_id] = row.key

    def take_over(self, row: TriggerRow, execution_id: str | None) -> None:
        """Another writer set `row`'s lock to `execution_id` (None: unlocked)."""
        if row.execution_id:
            self._holders.pop(row.execution_id, None)
        if execution_id:
            self._holders[execution_id] = row.key
        row.execution_id = execution_id

    def forget(self, row: TriggerRow) -> None:
        """The trigger is gone: its lock no longer matters."""
        if row.execution_id:
            self._holders.pop(row.execution_id, None)

    def execution_ended(self, execution: Execution) -> None:
        """An execution ended: release its trigger's lock (and apply `stopAfter`).

        Cheap for executions no trigger of ours created, so the executor may call it for
        every ended execution.
        """
        key = self._holders.get(execution.id)
        if key is not None:
            self.release(key, execution.id, execution.state.current)

    def release(self, key: TriggerKey, execution_id: str, state: str | None) -> bool:
        """Unlock `key` if `execution_id` still holds it; `state` None = execution gone."""
        self._holders.pop(execution_id, None)
        row = self.index.row(key)
        if row is None or row.execution_id != execution_id:
            return False
        row.execution_id = None
        _, trigger = trigger_of(self.flows, key)
        stop_after = getattr(trigger, "stop_after", None) or ()
        if state is not None and state in TERMINATED and state in stop_after:
            row.disabled = True
            log.info("trigger %s/%s %s disabled: an execution ended %s (stopAfter)", *key, state)
        self.writer.mark(row)
        self.index.push(key)
        return True

    def unlock(self, key: TriggerKey) -> bool:
        """Release `key` whatever holds it (the unlock command)."""
        row = self.index.row(key)
        if row is None or row.execution_id is None:
            return False
        return self.release(key, row.execution_id, None)

    def locked(self) -> dict[str, TriggerKey]:
        """Execution id → the trigger it locks (the monitor's work list).

        Executions not yet committed are left out: the monitor would not find them in the
        store and would wrongly release their locks.
        """
        unwritten = self.writer.unwritten()
        if not unwritten:
            return dict(self._holders)
        return {e: k for e, k in self._holders.items() if e not in unwritten}

    def committed(self, key: TriggerKey) -> str | None:
        """The execution locking `key`, if it is already in the store."""
        row = self.index.row(key)
        held = row.execution_id if row is not None else None
        return None if held is None or held in self.writer.unwritten() else held

    def __len__(self) -> int:
        return len(self._holders)
