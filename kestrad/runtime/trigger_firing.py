"""What a due trigger does, asked of its kind and applied to its state.

The kind answers with a step (`triggers/kind.py`): fire a date, skip a late one, or poll
now. Here the step is applied to the trigger's row, the execution the kind builds goes to
the tick writer, and the trigger is locked by it until it ends. Polls are handed to the
poller (`runtime/polling.py`), never run in the tick; their results come back through
`polled` and are turned into executions by the next tick.

A trigger found with several dates due (the daemon was frozen, the leader changed, the
database was away, or it recovers missed schedules at start) catches up in the same
tick: every due date its `recoverMissedSchedules` allows (ALL: each of them; LAST and
NONE: the latest only), up to CATCH_UP fires per trigger and tick. One fire per tick,
each waiting for the previous execution to end, never caught up with a per-second cron.
"""

from __future__ import annotations

import logging

from kestrad.model.flow import Flow
from kestrad.runtime.polling import Poller, PollJob, PollResult
from kestrad.runtime.tick_writer import TickWriter
from kestrad.runtime.trigger_index import FlowSource, Planned, TriggerIndex, trigger_of
from kestrad.runtime.trigger_locks import TriggerLocks
from kestrad.store.base import TriggerRow
from kestrad.triggers.base import Trigger
from kestrad.triggers.kind import Extra, Fire, Fired, Poll, Recovery, Rendering, Skip

log = logging.getLogger("kestrad.scheduler")

CATCH_UP = 100  # steps of one trigger in one tick, at most (the rest: the next ticks)


class TriggerFiring:
    """Fires due triggers through their kind; collects poll results for the next tick."""

    def __init__(
        self,
        index: TriggerIndex,
        writer: TickWriter,
        locks: TriggerLocks,
        flows: FlowSource,
        rendering: Rendering,
        *,
        default_recovery: Recovery = "ALL",
    ) -> None:
        self.index = index
        self.default_recovery = default_recovery
        self.writer = writer
        self.locks = locks
        self.flows = flows
        self.rendering = rendering
        # Evaluates polls beside the loop; None: nothing polls in this process (`kestrad
        # run`, tests), so polling triggers only move on.
        self.poller: Poller | None = None
        self._results: list[PollResult] = []

    def fire(
        self, row: TriggerRow, planned: Planned, flow: Flow, trigger: Trigger, now: float
    ) -> None:
        """Do what `row`'s trigger has to do at `now`: its due steps, else a backfill step."""
        kind, plan = planned.kind, planned.plan
        if row.next_fire_at <= now:
            self._skip_missed(row, planned, trigger, now)
            for _ in range(CATCH_UP):
                step = kind.due(trigger, plan, row.next_fire_at, row.last_fire_at, now)
                if isinstance(step, Fire):
                    row.last_fire_at = step.date
                    row.next_fire_at = step.next
                    self._start(row, kind.fire(flow, trigger, plan, step, self.rendering))
                elif isinstance(step, Skip):
                    row.next_fire_at = step.next_fire_at
                    row.last_fire_at = None
                    iso = plan.iso(step.date)
                    log.info("trigger %s/%s %s: skipped late fire at %s", *row.key, iso)
                elif isinstance(step, Poll):
                    self._poll(row, planned, flow, trigger, step)
                    return
                if row.next_fire_at > now or row.disabled:
                    return
        elif kind.backfills and row.backfill is not None and not row.backfill.paused:
            self._replay(row, planned, flow, trigger)

    def _skip_missed(self, row: TriggerRow, planned: Planned, trigger: Trigger, now: float) -> None:
        """LAST or NONE with several dates due: only the latest is fired (it is due now,
        not missed); ALL fires each of them."""
        policy = planned.kind.recovery(trigger) or self.default_recovery
        if policy == "ALL":
            return
        latest = planned.plan.previous_before(now + 1e-6)
        if latest > row.next_fire_at:
            row.next_fire_at = latest
            row.last_fire_at = None

    def _replay(self, row: TriggerRow, planned: Planned, flow: Flow, trigger: Trigger) -> None:
        """One date of the trigger's backfill; the backfill ends after its last date."""
        kind, plan = planned.kind, planned.plan
        backfill = row.backfill
        assert backfill is not None
        if backfill.cursor > backfill.end:
            row.backfill = None
            return
        fire = kind.replay(plan, backfill.cursor)
        if fire is None:
            return
        backfill.cursor = fire.next
        if fire.next > backfill.end:
            row.backfill = None  # this was the last date of the range
        extra = Extra(backfill.inputs, backfill.labels)
        self._start(row, kind.fire(flow, trigger, plan, fire, self.rendering, extra))

    def _start(self, row: TriggerRow, fired: Fired | None) -> None:
        """Store a fire's execution; a running one locks the trigger until it ends."""
        if fired is None:
            return  # its conditions said no
        self.writer.add(fired)
        execution = fired.execution
        if fired.log is not None:
            log.warning("%s/%s: %s", execution.namespace, execution.flow_id, fired.log.message)
        if not execution.terminated:
            self.locks.hold(row, execution.id)

    # -- polls -------------------------------------------------------------------------------
    def _poll(
        self, row: TriggerRow, planned: Planned, flow: Flow, trigger: Trigger, poll: Poll
    ) -> None:
        """Hand the evaluation to the poller; the trigger waits off the heap for its result."""
        kind, plan = planned.kind, planned.plan
        row.next_fire_at = poll.next_fire_at
        if self.poller is None:
            return
        try:
            if not kind.ready(flow, trigger, plan, poll, self.rendering.renderer):
                return
        except Exception as exc:
            log.warning("%s/%s trigger %s: conditions not evaluated: %s", *row.key, exc)
            return
        self.index.wait(row.key)
        self.poller.submit(
            PollJob(key=row.key, flow=flow, trigger=trigger, date=plan.iso(poll.date) or "")
        )

    def polled(self, result: PollResult) -> None:
        """A poll result (from the poller, on the event loop): used by the next tick."""
        self._results.append(result)

    def has_results(self) -> bool:
        return bool(self._results)

    def take_results(self) -> None:
        """Turn the poll results that arrived since the last tick into executions."""
        results, self._results = self._results, []
        for result in results:
            try:
                self._poll_done(result)
            except Exception:
                log.exception("poll result of %s/%s %s could not be used", *result.key)

    def _poll_done(self, result: PollResult) -> None:
        key = result.key
        self.index.arrived(key)
        row = self.index.row(key)
        flow, trigger = trigger_of(self.flows, key)
        if row is None or trigger is None:
            return
        if result.variables is not None and not row.execution_id and not row.disabled:
            planned = self.index.planned(key)
            if planned is not None:
                fired = planned.kind.polled(flow, trigger, result.variables, self.rendering)
                self._start(row, fired)
            self.writer.mark(row)
        self.index.push(key)
