"""The scheduler: an in-memory trigger index and the evaluation loop that fires it.

Why it is shaped this way (see the design, section 5):

- The index is a dict keyed by (namespace, flow id, trigger id) plus a heap of
  (due time, generation, key), built at start from ONE query and one pass over the
  flows. Kestra's scheduler matched flows to triggers with nested loops and took 20
  minutes to start with 100 000 of them; here every later change touches single entries.
- A tick pops only the due heap entries, so its cost grows with the number of due
  triggers, not with the number of triggers. Entries made stale by a later change are
  recognised by their generation and skipped, never searched for.
- All the trigger states and executions of one tick are written in ONE transaction, so
  a crash can neither lose a fire nor fire twice (the execution and the advanced
  `next_fire_at` commit together).
- Locked triggers (an execution still running) and disabled ones leave the heap and come
  back when unlocked or enabled, instead of being popped and skipped every second.
- Monitoring (stale locks, executions that never started) lives in `monitor.py`, in its
  own loop: running it inside the evaluation loop is what made Kestra's loop take a
  minute under load.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Literal, Protocol

import anyio
import msgspec

from kestrad.config import SchedulerConfig
from kestrad.model.durations import parse_duration
from kestrad.model.execution import Execution, ExecutionTrigger, Label
from kestrad.model.inputs import resolve_inputs
from kestrad.model.state import FAILED, TERMINATED, now_iso
from kestrad.runtime.polling import Poller, PollJob, PollResult
from kestrad.store.base import (
    Backfill,
    FlowRow,
    LeaseLost,
    NewLog,
    SchedulerLease,
    Store,
    TriggerKey,
    TriggerRow,
)
from kestrad.store.outage import Retry
from kestrad.triggers.cron import NEVER, CronError
from kestrad.triggers.evaluate import conditions_hold
from kestrad.triggers.fire_times import FirePlan, plan_for
from kestrad.triggers.polling import PollingTrigger

log = logging.getLogger("kestrad.scheduler")

__all__ = ["Scheduler", "SchedulerConfig"]

Recovery = Literal["ALL", "LAST", "NONE"]
Clock = Callable[[], float]


class FlowSource(Protocol):
    """What the scheduler needs of the flow cache (FlowCache implements it)."""

    def rows(self) -> list[FlowRow]: ...

    def latest(self, namespace: str, flow_id: str) -> Any | None: ...


class TickReport(msgspec.Struct, kw_only=True):
    """What one tick did, for logs, metrics and tests."""

    due: int = 0
    created: list[Execution] = msgspec.field(default_factory=list)
    seconds: float = 0.0


class Scheduler:
    """Fires Schedule and ScheduleOnDates triggers; see the module docstring.

    `clock` returns the current instant in epoch seconds; tests pass their own to move time.
    `wake` is called after executions were stored (the executor's wake-up hint).
    """

    def __init__(
        self,
        store: Store,
        flows: FlowSource,
        *,
        renderer: Any,
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
        self.secret_key = secret_key
        self.config = config or SchedulerConfig()
        self.clock = clock
        self.wake = wake
        self.observe_tick = observe_tick
        # With several daemons on one database, every write of fires renews this lease in
        # its own transaction (see runtime/leadership.py); None = the only scheduler.
        self.lease = lease
        self._renewed = time.monotonic()
        self.period = parse_duration(self.config.tick).total_seconds()
        self._states: dict[TriggerKey, TriggerRow] = {}
        self._plans: dict[TriggerKey, FirePlan] = {}
        self._active: dict[tuple[str, str], set[str]] = {}  # flow → its scheduled triggers
        self._gen: dict[TriggerKey, int] = {}
        self._heap: list[tuple[float, int, TriggerKey]] = []
        self._locks: dict[str, TriggerKey] = {}  # execution id → trigger it locks
        self._dirty: dict[TriggerKey, TriggerRow] = {}
        self._deleted: set[TriggerKey] = set()
        self._pending: list[Execution] = []
        self._pending_logs: list[NewLog] = []
        # Executions of a flush still in flight: not yet visible to the monitor's reads.
        self._flushing: set[str] = set()
        # Polling triggers: evaluated by the poller outside the tick; off the heap meanwhile.
        self.poller: Poller | None = None
        self._evaluating: set[TriggerKey] = set()
        self._polled: list[PollResult] = []
        self.started = False

    # -- start ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Build the index: one query for the states, one pass over the flows, one write."""
        rows = await self.store.load_triggers()
        now = self.clock()
        self._states = {row.key: row for row in rows}
        for row in rows:
            if row.execution_id:
                self._locks[row.execution_id] = row.key
        seen: set[TriggerKey] = set()
        for flow_row in self.flows.rows():
            if flow_row.deleted:
                continue
            flow = self.flows.latest(flow_row.namespace, flow_row.id)
            if flow is None:
                continue
            seen.update(self._adopt_flow(flow, now, recover=True, enabled=not flow_row.disabled))
        for key in [k for k in self._states if k not in seen]:
            self._forget(key)  # its flow or trigger is gone
        await self.flush()
        self.started = True
        log.info("scheduler started with %d triggers", len(self._plans))

    # -- flow changes (single entries) ---------------------------------------------------------
    def flow_changed(self, flow: Any, *, enabled: bool = True) -> None:
        """A flow was saved, enabled or disabled: update its triggers only.

        Triggers the flow did not have scheduled before (new, or the flow re-enabled) get
        the recovery policy; triggers it no longer declares are removed.
        """
        key = (flow.namespace, flow.id)
        before = self._active.get(key, set())
        now = self.clock()
        active_enabled = enabled and not getattr(flow, "disabled", False)
        kept = self._adopt_flow(flow, now, recover=True, enabled=active_enabled, known=before)
        for trigger_id in before - {k[2] for k in kept}:
            self._forget((flow.namespace, flow.id, trigger_id))

    def flow_removed(self, namespace: str, flow_id: str) -> None:
        """A flow was deleted: drop its triggers and their rows."""
        for trigger_id in self._active.pop((namespace, flow_id), set()):
            self._forget((namespace, flow_id, trigger_id))

    def _adopt_flow(
        self,
        flow: Any,
        now: float,
        *,
        recover: bool,
        enabled: bool,
        known: set[str] | None = None,
    ) -> list[TriggerKey]:
        """Index the time-based triggers of `flow`; returns their keys."""
        keys: list[TriggerKey] = []
        active: set[str] = set()
        for trigger in flow.triggers or ():
            try:
                plan = plan_for(trigger)
            except CronError as exc:
                log.error("%s/%s trigger %s: %s", flow.namespace, flow.id, trigger.id, exc)
                continue
            if plan is None:
                continue
            key = (flow.namespace, flow.id, trigger.id)
            keys.append(key)
            was_active = known is not None and trigger.id in known
            self._plans[key] = plan
            row = self._states.get(key)
            if row is None:
                row = TriggerRow(
                    namespace=flow.namespace,
                    flow_id=flow.id,
                    trigger_id=trigger.id,
                    next_fire_at=plan.next_after(now),
                    fingerprint=plan.fingerprint,
                )
                self._states[key] = row
                self._mark(row)
            elif row.fingerprint != plan.fingerprint:
                row.next_fire_at = plan.next_after(now)
                row.last_fire_at = None
                row.fingerprint = plan.fingerprint
                self._mark(row)
            elif recover and not was_active and row.next_fire_at <= now:
                self._recover(row, plan, trigger, now)
            if enabled and not trigger.disabled:
                active.add(trigger.id)
        if active:
            self._active[(flow.namespace, flow.id)] = active
        else:
            self._active.pop((flow.namespace, flow.id), None)
        for key in keys:
            self._push(key)  # inactive ones only leave the heap
        return keys

    def _recover(self, row: TriggerRow, plan: FirePlan, trigger: Any, now: float) -> None:
        """Apply `recoverMissedSchedules` to a trigger whose next fire time has passed."""
        policy = getattr(trigger, "recover_missed_schedules", None)
        policy = policy or self.config.recover_missed_schedules
        if policy == "ALL":
            return  # keep the stored next fire time: catch up one by one
        if policy == "LAST":
            last = plan.previous_before(now + 1e-6)
            if last > row.next_fire_at:
                row.next_fire_at = last
                row.last_fire_at = None
        else:
            row.next_fire_at = plan.next_after(now)
            row.last_fire_at = None
        self._mark(row)

    def _forget(self, key: TriggerKey) -> None:
        row = self._states.pop(key, None)
        if row is not None and row.execution_id:
            self._locks.pop(row.execution_id, None)
        self._plans.pop(key, None)
        self._gen[key] = self._gen.get(key, 0) + 1
        self._dirty.pop(key, None)
        self._deleted.add(key)

    # -- heap ------------------------------------------------------------------------------------
    def _push(self, key: TriggerKey) -> None:
        """(Re)schedule `key`: any earlier heap entry of it becomes stale."""
        gen = self._gen.get(key, 0) + 1
        self._gen[key] = gen
        row = self._states.get(key)
        if row is None or row.disabled or row.execution_id or key not in self._plans:
            return
        if key in self._evaluating:
            return  # back on the heap when its poll result arrives
        if key[2] not in self._active.get((key[0], key[1]), ()):
            return
        due = row.next_fire_at
        if row.backfill is not None and not row.backfill.paused:
            due = 0.0  # a backfill replays past dates as fast as the lock allows
        if due < NEVER:
            heapq.heappush(self._heap, (due, gen, key))

    def _mark(self, row: TriggerRow) -> None:
        self._dirty[row.key] = row
        self._deleted.discard(row.key)

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
        if self._polled:
            results, self._polled = self._polled, []
            for result in results:
                try:
                    self._poll_done(result)
                except Exception:
                    log.exception("poll result of %s/%s %s could not be used", *result.key)
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, gen, key = heapq.heappop(heap)
            if self._gen.get(key) != gen:
                continue  # stale: the trigger changed since this entry was pushed
            report.due += 1
            try:
                self._fire(key, now)
            except Exception:
                log.exception("trigger %s/%s %s could not be evaluated", *key)
        report.created = list(self._pending)
        if self._has_writes():
            await self.flush()
        else:
            await self._renew_lease()
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

    async def flush(self) -> None:
        """Write the changed states, deletions and new executions: one transaction.

        On failure everything stays pending and is written by the next tick, so a fire
        whose state already advanced in memory is not lost.
        """
        if not self._has_writes():
            return
        stamp = time.time()
        # Take the work out first: changes made while the write is awaited (the monitor
        # releasing a lock, say) belong to the next flush, not to a clear() after this one.
        dirty, self._dirty = self._dirty, {}
        deleted, self._deleted = self._deleted, set()
        executions, self._pending = self._pending, []
        logs, self._pending_logs = self._pending_logs, []
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
            self._pending = executions + self._pending
            self._pending_logs = logs + self._pending_logs
            raise
        finally:
            self._flushing = set()
        self._renewed = renewed
        if executions and self.wake is not None:
            self.wake()

    def _has_writes(self) -> bool:
        return bool(self._dirty or self._deleted or self._pending or self._pending_logs)

    async def _renew_lease(self) -> None:
        """An idle leader still renews its lease, every third of its length: it expires
        only when this loop stops (a dead or hung daemon), never between quiet ticks."""
        lease = self.lease
        if lease is None or time.monotonic() - self._renewed < lease.seconds / 3:
            return
        renewed = time.monotonic()
        if not await self.store.claim_scheduler_lease(lease):
            raise LeaseLost(lease.holder)
        self._renewed = renewed

    def _fire(self, key: TriggerKey, now: float) -> None:
        row = self._states[key]
        plan = self._plans[key]
        flow = self.flows.latest(key[0], key[1])
        trigger = flow.find_trigger(key[2]) if flow is not None else None
        if trigger is None:
            self._forget(key)
            return
        if isinstance(trigger, PollingTrigger):
            if row.next_fire_at <= now:
                self._poll(row, plan, flow, trigger, now)
        elif row.next_fire_at <= now:
            self._fire_schedule(row, plan, flow, trigger, now)
        elif row.backfill is not None and not row.backfill.paused:
            self._fire_backfill(row, plan, flow, trigger)
        self._mark(row)
        self._push(key)

    def _fire_schedule(
        self, row: TriggerRow, plan: FirePlan, flow: Any, trigger: Any, now: float
    ) -> None:
        date = row.next_fire_at
        nxt = plan.next_after(date)
        late = getattr(trigger, "late_maximum_delay", None)
        if late:
            floor = now - parse_duration(late).total_seconds()
            if date < floor:
                # Too late to run: skip to the first fire time still within the delay.
                row.next_fire_at = plan.at_or_after(floor)
                row.last_fire_at = None
                log.info("trigger %s/%s %s: skipped late fire at %s", *row.key, plan.iso(date))
                return
        previous = row.last_fire_at
        if previous is None or previous >= date:
            previous = plan.previous_before(date)
        row.last_fire_at = date
        row.next_fire_at = nxt
        execution = self._execution(flow, trigger, plan, date, nxt, previous, None)
        if execution is not None and not execution.terminated:
            row.execution_id = execution.id
            self._locks[execution.id] = row.key

    def _fire_backfill(self, row: TriggerRow, plan: FirePlan, flow: Any, trigger: Any) -> None:
        backfill = row.backfill
        assert backfill is not None
        date = backfill.cursor
        if date > backfill.end:
            row.backfill = None
            return
        nxt = plan.next_after(date)
        previous = plan.previous_before(date)
        backfill.cursor = nxt
        if nxt > backfill.end:
            row.backfill = None  # this was the last date of the range
        execution = self._execution(flow, trigger, plan, date, nxt, previous, backfill)
        if execution is not None and not execution.terminated:
            row.execution_id = execution.id
            self._locks[execution.id] = row.key

    # -- polling triggers ----------------------------------------------------------------------
    def _poll(self, row: TriggerRow, plan: FirePlan, flow: Any, trigger: Any, now: float) -> None:
        """Hand the evaluation to the poller; the trigger waits off the heap for its result."""
        row.next_fire_at = plan.next_after(now)
        if self.poller is None:
            return  # nothing evaluates polls in this process (`kestrad run`, tests)
        context = {"trigger": {"date": plan.iso(now)}, "flow": {"id": flow.id}}
        try:
            if not conditions_hold(_conditions(trigger), context, self.renderer):
                return
        except Exception as exc:
            log.warning("%s/%s trigger %s: conditions not evaluated: %s", *row.key, exc)
            return
        self._evaluating.add(row.key)
        self.poller.submit(
            PollJob(key=row.key, flow=flow, trigger=trigger, date=plan.iso(now) or "")
        )

    def polled(self, result: PollResult) -> None:
        """A poll result (from the poller, on the event loop): used by the next tick."""
        self._polled.append(result)

    def _poll_done(self, result: PollResult) -> None:
        key = result.key
        self._evaluating.discard(key)
        row = self._states.get(key)
        flow = self.flows.latest(key[0], key[1])
        trigger = flow.find_trigger(key[2]) if flow is not None else None
        if row is None or trigger is None:
            return
        if result.variables is not None and not row.execution_id and not row.disabled:
            execution = self._polled_execution(flow, trigger, result.variables)
            if execution is not None and not execution.terminated:
                row.execution_id = execution.id
                self._locks[execution.id] = key
            self._mark(row)
        self._push(key)

    def _polled_execution(
        self, flow: Any, trigger: Any, variables: dict[str, Any]
    ) -> Execution | None:
        origin = ExecutionTrigger(id=trigger.id, type=trigger.type, variables=variables)
        execution = Execution.new(
            namespace=flow.namespace,
            flow_id=flow.id,
            flow_revision=flow.revision or 1,
            trigger=origin,
        )
        context = {
            "trigger": variables,
            "flow": {"id": flow.id, "namespace": flow.namespace, "revision": flow.revision},
            "labels": dict(flow.labels or {}),
        }
        labels = {k: v for k, v in (flow.labels or {}).items() if not k.startswith("system.")}
        try:
            if trigger.inputs or flow.inputs:
                rendered = self.renderer.render_value_typed(dict(trigger.inputs or {}), context)
                execution.inputs = resolve_inputs(
                    flow, rendered, renderer=self.renderer, secret_key=self.secret_key
                )
            if trigger.labels:
                labels.update(self.renderer.render_value(dict(trigger.labels), context))
        except Exception as exc:
            return self._failed(execution, trigger, now_iso(), exc)
        labels.setdefault("system.correlationId", execution.id)
        execution.labels = [Label(key=k, value=str(v)) for k, v in labels.items()]
        self._pending.append(execution)
        return execution

    # -- executions --------------------------------------------------------------------------
    def _execution(
        self,
        flow: Any,
        trigger: Any,
        plan: FirePlan,
        date: float,
        nxt: float,
        previous: float,
        backfill: Backfill | None,
    ) -> Execution | None:
        """The execution of one fire (None when conditions say no); FAILED when it cannot
        be evaluated, with a log line saying why: once per fire time, never retried."""
        variables = {"date": plan.iso(date), "next": plan.iso(nxt), "previous": plan.iso(previous)}
        origin = ExecutionTrigger(id=trigger.id, type=trigger.type, variables=variables)
        execution = Execution.new(
            namespace=flow.namespace,
            flow_id=flow.id,
            flow_revision=flow.revision or 1,
            trigger=origin,
        )
        # Most schedules have no conditions, inputs or labels of their own: build the
        # expression context and call the renderer only when something needs them.
        conditions = _conditions(trigger)
        raw = trigger.inputs
        if backfill is not None and backfill.inputs:
            raw = {**(raw or {}), **backfill.inputs}
        labels = {k: v for k, v in (flow.labels or {}).items() if not k.startswith("system.")}
        try:
            context: dict[str, Any] | None = None
            if conditions or raw or trigger.labels:
                context = {
                    "trigger": variables,
                    "schedule": variables,
                    "flow": {"id": flow.id, "namespace": flow.namespace, "revision": flow.revision},
                    "labels": dict(flow.labels or {}),
                }
            if conditions and not conditions_hold(conditions, context or {}, self.renderer):
                return None
            if raw or flow.inputs:
                rendered = self.renderer.render_value_typed(dict(raw), context) if raw else {}
                execution.inputs = resolve_inputs(
                    flow, rendered, renderer=self.renderer, secret_key=self.secret_key
                )
            if trigger.labels:
                labels.update(self.renderer.render_value(dict(trigger.labels), context))
            if backfill is not None:
                labels.update(backfill.labels or {})
        except Exception as exc:
            return self._failed(execution, trigger, plan.iso(date), exc)
        labels.setdefault("system.correlationId", execution.id)
        execution.labels = [Label(key=k, value=str(v)) for k, v in labels.items()]
        self._pending.append(execution)
        return execution

    def _failed(
        self, execution: Execution, trigger: Any, date: str | None, exc: Exception
    ) -> Execution:
        reason = f"trigger `{trigger.id}` could not be evaluated for {date}: {exc}"
        log.warning("%s/%s: %s", execution.namespace, execution.flow_id, reason)
        execution.labels = [Label(key="system.correlationId", value=execution.id)]
        execution.state.set(FAILED)
        self._pending.append(execution)
        self._pending_logs.append(
            NewLog(
                execution_id=execution.id,
                namespace=execution.namespace,
                flow_id=execution.flow_id,
                task_id=None,
                task_run_id=None,
                attempt=None,
                level="ERROR",
                timestamp=now_iso(),
                message=reason,
            )
        )
        return execution

    # -- locks -----------------------------------------------------------------------------------
    def execution_ended(self, execution: Execution) -> None:
        """An execution ended: release its trigger's lock (and apply `stopAfter`).

        Cheap for executions no trigger of ours created, so the executor may call it for
        every ended execution. The release is written by the next tick's transaction.
        """
        key = self._locks.get(execution.id)
        if key is not None:
            self.release(key, execution.id, execution.state.current)

    def release(self, key: TriggerKey, execution_id: str, state: str | None) -> bool:
        """Unlock `key` if `execution_id` still holds it; `state` None = execution gone."""
        self._locks.pop(execution_id, None)
        row = self._states.get(key)
        if row is None or row.execution_id != execution_id:
            return False
        row.execution_id = None
        flow = self.flows.latest(key[0], key[1])
        trigger = flow.find_trigger(key[2]) if flow is not None else None
        stop_after = getattr(trigger, "stop_after", None) or ()
        if state is not None and state in TERMINATED and state in stop_after:
            row.disabled = True
            log.info("trigger %s/%s %s disabled: an execution ended %s (stopAfter)", *key, state)
        self._mark(row)
        self._push(key)
        return True

    def locked(self) -> dict[str, TriggerKey]:
        """Execution id → the trigger it locks (the monitor's work list).

        Executions not yet committed are left out: the monitor would not find them in the
        store and would wrongly release their locks.
        """
        unwritten = self._unwritten()
        if not unwritten:
            return dict(self._locks)
        return {e: k for e, k in self._locks.items() if e not in unwritten}

    def committed_lock(self, key: TriggerKey) -> str | None:
        """The execution locking `key`, if it is already in the store."""
        row = self._states.get(key)
        held = row.execution_id if row is not None else None
        return None if held is None or held in self._unwritten() else held

    def _unwritten(self) -> set[str]:
        """Ids of executions fired but not committed yet (pending, or being flushed)."""
        return self._flushing.union(e.id for e in self._pending)

    # -- operations (CLI and API in-process; the store is updated by the next tick) --------------
    def state(self, key: TriggerKey) -> TriggerRow | None:
        return self._states.get(key)

    def states(self, keys: Iterable[TriggerKey]) -> list[TriggerRow]:
        return [self._states[k] for k in keys if k in self._states]

    def unlock(self, key: TriggerKey) -> bool:
        row = self._states.get(key)
        if row is None or row.execution_id is None:
            return False
        return self.release(key, row.execution_id, None)

    def set_disabled(self, key: TriggerKey, disabled: bool) -> bool:
        """Disable, or enable (the recovery policy applies once, as at start)."""
        row = self._states.get(key)
        if row is None:
            return False
        if row.disabled and not disabled:
            row.disabled = False
            flow = self.flows.latest(key[0], key[1])
            trigger = flow.find_trigger(key[2]) if flow is not None else None
            if trigger is not None and row.next_fire_at <= self.clock():
                self._recover(row, self._plans[key], trigger, self.clock())
        row.disabled = disabled
        self._mark(row)
        self._push(key)
        return True

    def plan(self, key: TriggerKey) -> FirePlan | None:
        """The fire plan of a schedule trigger (backfills need its zone and fire times)."""
        return self._plans.get(key)

    def set_backfill(self, key: TriggerKey, backfill: Backfill | None) -> bool:
        """Start, change (pause/resume) or remove a trigger's backfill; saved next tick."""
        row = self._states.get(key)
        if row is None:
            return False
        row.backfill = backfill
        self._mark(row)
        self._push(key)
        return True

    def apply_external(self, rows: Iterable[TriggerRow]) -> int:
        """Take in rows changed by another writer (the CLI); returns how many changed here."""
        changed = 0
        for stored in rows:
            row = self._states.get(stored.key)
            if row is None or stored.updated <= row.updated or row.key in self._dirty:
                continue
            enabling = row.disabled and not stored.disabled
            if row.execution_id:
                self._locks.pop(row.execution_id, None)
            if stored.execution_id:
                self._locks[stored.execution_id] = stored.key
            row.execution_id = stored.execution_id
            row.disabled = stored.disabled or enabling
            row.backfill = stored.backfill
            row.updated = stored.updated
            if stored.fingerprint == row.fingerprint and stored.next_fire_at != row.next_fire_at:
                row.next_fire_at = stored.next_fire_at
                row.last_fire_at = None
            if enabling:
                self.set_disabled(row.key, False)
            else:
                self._push(row.key)
            changed += 1
        return changed


def _conditions(trigger: Any) -> list[Any]:
    return list(trigger.conditions or ()) + list(
        getattr(trigger, "schedule_conditions", None) or ()
    )


def new_backfill(
    plan: FirePlan,
    start: float,
    end: float,
    *,
    inputs: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
) -> Backfill:
    """A backfill of every fire time in [start, end]; its cursor is the first of them."""
    if end < start:
        raise ValueError("a backfill's end must not be before its start")
    return Backfill(
        start=start, end=end, cursor=plan.at_or_after(start), inputs=inputs, labels=labels
    )
