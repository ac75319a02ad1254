"""The scheduler: an in-memory trigger index and the evaluation loop that fires it.

Why it is shaped this way (see the design, section 5):

- The index (`trigger_index.py`) is a dict keyed by (namespace, flow id, trigger id) plus
  a heap of (due time, generation, key), built at start from ONE query and one pass over
  the flows (`trigger_planner.py`). Kestra's scheduler matched flows to triggers with
  nested loops and took 20 minutes to start with 100 000 of them; here every later change
  touches single entries.
- A tick pops only the due heap entries, so its cost grows with the number of due
  triggers, not with the number of triggers. Entries made stale by a later change are
  recognised by their generation and skipped, never searched for.
- What a due trigger does is asked of its kind (`triggers/kind.py`) and applied by
  `trigger_firing.py`: this module never asks which kind of trigger it has.
- All the trigger states and executions of one tick are written in ONE transaction
  (`tick_writer.py`), so a crash can neither lose a fire nor fire twice (the execution
  and the advanced `next_fire_at` commit together).
- Locked triggers (an execution still running, `trigger_locks.py`) and disabled ones
  leave the heap and come back when unlocked or enabled, instead of being popped and
  skipped every second.
- Monitoring (stale locks, executions that never started) lives in `monitor.py`, in its
  own loop: running it inside the evaluation loop is what made Kestra's loop take a
  minute under load.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

import anyio
import msgspec

from kestrad.config import SchedulerConfig
from kestrad.expr.engine import Renderer
from kestrad.model.durations import parse_duration
from kestrad.model.execution import Execution
from kestrad.model.flow import Flow
from kestrad.runtime.polling import Poller, PollResult
from kestrad.runtime.tick_writer import TickWriter
from kestrad.runtime.trigger_firing import TriggerFiring
from kestrad.runtime.trigger_index import FlowSource, TriggerIndex, trigger_of
from kestrad.runtime.trigger_locks import TriggerLocks
from kestrad.runtime.trigger_planner import TriggerPlanner
from kestrad.store.base import Backfill, LeaseLost, SchedulerLease, Store, TriggerKey, TriggerRow
from kestrad.store.outage import Retry
from kestrad.triggers.fire_times import FirePlan
from kestrad.triggers.kind import Rendering, ScheduledKind

log = logging.getLogger("kestrad.scheduler")

__all__ = ["FlowSource", "Scheduler", "SchedulerConfig", "TickReport"]

Clock = Callable[[], float]


class TickReport(msgspec.Struct, kw_only=True):
    """What one tick did, for logs, metrics and tests."""

    due: int = 0
    created: list[Execution] = msgspec.field(default_factory=list)
    seconds: float = 0.0


class Scheduler:
    """Fires the timed and polling triggers of the flows; see the module docstring.

    `clock` returns the current instant in epoch seconds; tests pass their own to move time.
    `wake` is called after executions were stored (the executor's wake-up hint). With
    several daemons on one database, every write of fires renews `lease` in its own
    transaction (see runtime/leadership.py); None = the only scheduler.
    """

    def __init__(
        self,
        store: Store,
        flows: FlowSource,
        *,
        renderer: Renderer,
        secret_key: str | None = None,
        config: SchedulerConfig | None = None,
        clock: Clock = time.time,
        wake: Callable[[], None] | None = None,
        observe_tick: Callable[[float], None] | None = None,
        lease: SchedulerLease | None = None,
    ) -> None:
        self.store = store
        self.flows = flows
        self.renderer = renderer
        self.config = config or SchedulerConfig()
        self.clock = clock
        self.observe_tick = observe_tick
        self.period = parse_duration(self.config.tick).total_seconds()
        self.index = TriggerIndex()
        self.writer = TickWriter(store, lease=lease, wake=wake)
        self.locks = TriggerLocks(self.index, self.writer, flows)
        self.planner = TriggerPlanner(
            self.index,
            self.writer,
            self.locks,
            default_recovery=self.config.recover_missed_schedules,
        )
        self.firing = TriggerFiring(
            self.index,
            self.writer,
            self.locks,
            flows,
            Rendering(renderer, secret_key),
            default_recovery=self.config.recover_missed_schedules,
        )
        self.started = False

    @property
    def poller(self) -> Poller | None:
        """Evaluates polling triggers beside the loop (`run` makes one if none is set)."""
        return self.firing.poller

    @poller.setter
    def poller(self, poller: Poller | None) -> None:
        self.firing.poller = poller

    # -- start ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Build the index: one query for the states, one pass over the flows, one write."""
        rows = await self.store.load_triggers()
        now = self.clock()
        self.index.load(rows)
        self.locks.load(rows)
        seen: set[TriggerKey] = set()
        for flow_row in self.flows.rows():
            if flow_row.deleted:
                continue
            flow = self.flows.latest(flow_row.namespace, flow_row.id)
            if flow is None:
                continue
            seen.update(self.planner.adopt(flow, now, enabled=not flow_row.disabled))
        for key in [k for k in self.index.trigger_keys() if k not in seen]:
            self.planner.forget(key)  # its flow or trigger is gone
        await self.flush()
        self.started = True
        log.info("scheduler started with %d triggers", len(self.index))

    # -- flow changes (single entries) ---------------------------------------------------------
    def flow_changed(self, flow: Flow, *, enabled: bool = True) -> None:
        """A flow was saved, enabled or disabled: update its triggers only.

        Triggers the flow did not have scheduled before (new, or the flow re-enabled) get
        the recovery policy; triggers it no longer declares are removed.
        """
        before = self.index.active((flow.namespace, flow.id))
        active = enabled and not getattr(flow, "disabled", False)
        kept = self.planner.adopt(flow, self.clock(), enabled=active, known=before)
        for trigger_id in before - {k[2] for k in kept}:
            self.planner.forget((flow.namespace, flow.id, trigger_id))

    def flow_removed(self, namespace: str, flow_id: str) -> None:
        """A flow was deleted: drop its triggers and their rows."""
        for trigger_id in self.index.drop_active((namespace, flow_id)):
            self.planner.forget((namespace, flow_id, trigger_id))

    # -- evaluation loop -------------------------------------------------------------------------
    async def run(self) -> None:
        """Start if needed, then tick every `scheduler.tick` until cancelled; the poller of
        polling triggers runs beside the loop, never inside a tick."""
        if not self.started:
            await self.start()
        async with anyio.create_task_group() as tg:
            if self.poller is None:
                self.poller = Poller(self.polled, self.renderer)
            tg.start_soon(self.poller.run)
            outage = Retry(self.store, "writing a scheduler tick")  # see store/outage.py
            while True:
                begun = time.monotonic()
                try:
                    await self.tick()
                    outage.succeeded()
                except LeaseLost:
                    raise  # another daemon fires now; runtime/leadership.py steps down
                except Exception as exc:
                    if not outage.failed(exc):  # a database outage is logged once, not per tick
                        log.exception("scheduler tick failed")
                await anyio.sleep(max(self.period - (time.monotonic() - begun), 0.0))

    async def tick(self) -> TickReport:
        """Fire every due trigger, then write states and executions in one transaction."""
        begun = time.perf_counter()
        now = self.clock()
        report = TickReport()
        if self.firing.has_results():
            self.firing.take_results()
        for key in self.index.pop_due(now):
            report.due += 1
            try:
                self._fire(key, now)
            except Exception:
                log.exception("trigger %s/%s %s could not be evaluated", *key)
        report.created = self.writer.pending_executions()
        if self.writer.has_writes():
            await self.flush()
        else:
            await self.writer.renew_lease()
        report.seconds = time.perf_counter() - begun
        if self.observe_tick is not None:
            self.observe_tick(report.seconds)
        if report.seconds > self.period:
            log.warning(
                "scheduler tick took %.3fs (period %.3fs) for %d due triggers",
                report.seconds,
                self.period,
                report.due,
            )
        return report

    def _fire(self, key: TriggerKey, now: float) -> None:
        row = self.index.row(key)
        planned = self.index.planned(key)
        flow, trigger = trigger_of(self.flows, key)
        if row is None or planned is None or trigger is None:
            self.planner.forget(key)
            return
        self.firing.fire(row, planned, flow, trigger, now)
        self.writer.mark(row)
        self.index.push(key)

    async def flush(self) -> None:
        """Write the pending states, deletions and executions: one transaction."""
        await self.writer.flush()

    def polled(self, result: PollResult) -> None:
        """A poll result (from the poller, on the event loop): used by the next tick."""
        self.firing.polled(result)

    # -- locks (the executor's end notices; the monitor uses `locks`) ------------------------
    def execution_ended(self, execution: Execution) -> None:
        """An execution ended: release its trigger's lock (and apply `stopAfter`); written
        by the next tick's transaction."""
        self.locks.execution_ended(execution)

    def release(self, key: TriggerKey, execution_id: str, state: str | None) -> bool:
        """Unlock `key` if `execution_id` still holds it; `state` None = execution gone."""
        return self.locks.release(key, execution_id, state)

    # -- commands (runtime/commands/triggers.py; the store is updated by the next tick) ----------
    def state(self, key: TriggerKey) -> TriggerRow | None:
        return self.index.row(key)

    def plan(self, key: TriggerKey) -> FirePlan | None:
        """The fire plan of a timed trigger (backfills need its zone and fire times)."""
        planned = self.index.planned(key)
        return planned.plan if planned is not None else None

    def kind(self, key: TriggerKey) -> ScheduledKind | None:
        """The kind of a timed trigger (whether it backfills, say)."""
        planned = self.index.planned(key)
        return planned.kind if planned is not None else None

    def unlock(self, key: TriggerKey) -> bool:
        return self.locks.unlock(key)

    def set_disabled(self, key: TriggerKey, disabled: bool) -> bool:
        """Disable, or enable (the recovery policy applies once, as at start)."""
        row = self.index.row(key)
        if row is None:
            return False
        if row.disabled and not disabled:
            row.disabled = False
            planned = self.index.planned(key)
            _, trigger = trigger_of(self.flows, key)
            now = self.clock()
            if planned is not None and trigger is not None and row.next_fire_at <= now:
                self.planner.recover(row, planned, trigger, now)
        row.disabled = disabled
        self.writer.mark(row)
        self.index.push(key)
        return True

    def set_backfill(self, key: TriggerKey, backfill: Backfill | None) -> bool:
        """Start, change (pause/resume) or remove a trigger's backfill; saved next tick."""
        row = self.index.row(key)
        if row is None:
            return False
        row.backfill = backfill
        self.writer.mark(row)
        self.index.push(key)
        return True

    def apply_external(self, rows: Iterable[TriggerRow]) -> int:
        """Take in rows changed by another writer (the CLI); returns how many changed here."""
        changed = 0
        for stored in rows:
            row = self.index.row(stored.key)
            if row is None or stored.updated <= row.updated or self.writer.is_dirty(row.key):
                continue
            enabling = row.disabled and not stored.disabled
            self.locks.take_over(row, stored.execution_id)
            row.disabled = stored.disabled or enabling
            row.backfill = stored.backfill
            row.updated = stored.updated
            if stored.fingerprint == row.fingerprint and stored.next_fire_at != row.next_fire_at:
                row.next_fire_at = stored.next_fire_at
                row.last_fire_at = None
            if enabling:
                self.set_disabled(row.key, False)
            else:
                self.index.push(row.key)
            changed += 1
        return changed
