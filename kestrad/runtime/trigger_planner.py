"""Puts the timed triggers of a flow into the scheduler's index, with their plans.

Called once per flow at start (one pass over the flows) and for a single flow when it is
saved, enabled, disabled or deleted: nothing rescans all flows. A trigger's kind says
whether it is timed (it has a plan) and how it fires; its stored state is kept when its
plan did not change (same fingerprint), and gets a fresh next fire time when it did.

`next_fire_at` is always explicit; the recovery policy (`recoverMissedSchedules`) is
applied once, when a trigger becomes scheduled (start, a new trigger, re-enable) with its
next fire time already past.
"""

from __future__ import annotations

import logging

from kestrad.model.flow import Flow
from kestrad.runtime.tick_writer import TickWriter
from kestrad.runtime.trigger_index import Planned, TriggerIndex
from kestrad.runtime.trigger_locks import TriggerLocks
from kestrad.store.base import TriggerKey, TriggerRow
from kestrad.triggers.base import Trigger
from kestrad.triggers.cron import CronError
from kestrad.triggers.fire_times import recovered
from kestrad.triggers.kind import Recovery
from kestrad.triggers.registry import kind_of

log = logging.getLogger("kestrad.scheduler")


class TriggerPlanner:
    """Indexes flows' timed triggers; `default_recovery` applies to triggers without one."""

    def __init__(
        self,
        index: TriggerIndex,
        writer: TickWriter,
        locks: TriggerLocks,
        *,
        default_recovery: Recovery,
    ) -> None:
        self.index = index
        self.writer = writer
        self.locks = locks
        self.default_recovery = default_recovery

    def adopt(
        self, flow: Flow, now: float, *, enabled: bool, known: set[str] | None = None
    ) -> list[TriggerKey]:
        """Index the timed triggers of `flow`; returns their keys.

        `known` are the trigger ids the flow had scheduled before: the others (new, or the
        flow re-enabled) get the recovery policy.
        """
        keys: list[TriggerKey] = []
        active: set[str] = set()
        for trigger in flow.triggers or ():
            kind = kind_of(trigger)
            if kind is None:
                continue
            try:
                plan = kind.plan(trigger)
            except CronError as exc:
                log.error("%s/%s trigger %s: %s", flow.namespace, flow.id, trigger.id, exc)
                continue
            if plan is None:
                continue  # not a timed kind (Webhook, Flow)
            key = (flow.namespace, flow.id, trigger.id)
            keys.append(key)
            was_active = known is not None and trigger.id in known
            # A kind with a plan is a ScheduledKind.
            row = self.index.set_planned(key, plan, kind)  # type: ignore[arg-type]
            if row is None:
                row = TriggerRow(
                    namespace=flow.namespace,
                    flow_id=flow.id,
                    trigger_id=trigger.id,
                    next_fire_at=plan.next_after(now),
                    fingerprint=plan.fingerprint,
                )
                self.index.add(row)
                self.writer.mark(row)
            elif row.fingerprint != plan.fingerprint:
                row.next_fire_at = plan.next_after(now)
                row.last_fire_at = None
                row.fingerprint = plan.fingerprint
                self.writer.mark(row)
            elif not was_active and row.next_fire_at <= now:
                self.recover(row, Planned(plan, kind), trigger, now)  # type: ignore[arg-type]
            if enabled and not trigger.disabled:
                active.add(trigger.id)
        self.index.set_active((flow.namespace, flow.id), active)
        for key in keys:
            self.index.push(key)  # inactive ones only leave the heap
        return keys

    def recover(self, row: TriggerRow, planned: Planned, trigger: Trigger, now: float) -> None:
        """Apply `recoverMissedSchedules` to a trigger whose next fire time has passed."""
        policy = planned.kind.recovery(trigger) or self.default_recovery
        moved = recovered(policy, planned.plan, row.next_fire_at, now)
        if moved is not None:
            row.next_fire_at = moved
            row.last_fire_at = None
            self.writer.mark(row)

    def forget(self, key: TriggerKey) -> None:
        """The trigger is gone (its flow, or the flow no longer declares it)."""
        row = self.index.forget(key)
        if row is not None:
            self.locks.forget(row)
        self.writer.delete(key)
