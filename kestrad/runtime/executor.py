"""The executor: polls the `execution` topic and advances executions in batches.

Per batch: one transaction claims the messages, loads their executions, runs `advance` on
each (grouped so an execution is loaded and saved once however many events it got), and
writes executions, worker jobs, delayed events and logs before deleting the messages.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Callable, Iterable

import anyio

from kestrad.model import state as S
from kestrad.model.execution import Execution, decode_execution, encode_execution
from kestrad.model.flow import Flow
from kestrad.model.messages import ExecutionEvent, Kill, SubflowEnded, Wake, decode_event, encode
from kestrad.runtime import transitions as T
from kestrad.runtime.advance import AdvanceEnv, advance
from kestrad.runtime.concurrency import Admission
from kestrad.runtime.flow_cache import FlowCache
from kestrad.runtime.flow_triggers import WindowBook, triggered_executions, window_keys
from kestrad.runtime.hub import Hub
from kestrad.runtime.poll import Backoff
from kestrad.runtime.trigger_locks import released_locks
from kestrad.runtime.worker import Worker
from kestrad.store.base import (
    BatchLocks,
    BatchView,
    ExecutorOutcome,
    FlowKey,
    FlowRow,
    LocalBatch,
    NewLog,
    Outgoing,
    QueueMessage,
    Store,
)
from kestrad.store.outage import Retry

log = logging.getLogger("kestrad.executor")
_WAKE = encode(Wake())


class Executor:
    """Consumes execution events; one instance per daemon."""

    def __init__(
        self,
        store: Store,
        flows: FlowCache,
        env: AdvanceEnv,
        hub: Hub,
        *,
        local_worker: Worker | None = None,
        batch_size: int = 100,
        min_poll_interval: float = 0.005,
        max_poll_interval: float = 0.5,
    ) -> None:
        """`local_worker`: the worker of this same process, if any: its results and new
        jobs then pass in memory, inside this executor's transaction."""
        self.store = store
        self.flows = flows
        self.env = env
        self.hub = hub
        self.batch_size = batch_size
        self.backoff = Backoff(min_poll_interval, max_poll_interval)
        self.retry = Retry(store, "running an executor batch")
        # Due dates of the delayed messages this process published (a heap): the loop
        # wakes at each, so a timer (Sleep, a pause's delay) ends on time, not at a poll.
        self._dues: list[float] = []
        self._asked_store = False
        self.stopping = False
        self.local_worker = local_worker
        # Executions submitted by this process, waiting for the next batch (see submit).
        self._creating: list[tuple[Execution, asyncio.Future[None]]] = []
        # Called after the commit with each execution that ended (the scheduler's locks).
        self.ended_listeners: list[Callable[[Execution], None]] = []
        # The current batch's Flow-trigger windows (set by `process`, inside the transaction).
        self._windows: WindowBook | None = None

    async def run(self) -> None:
        while not self.stopping:
            local, created = self._local_batch() if self.local_worker else (None, [])
            try:
                outcome = await self.store.executor_batch(self.batch_size, self, local)
            except Exception as exc:
                # The batch is one transaction: nothing of it was applied. Results go back
                # to the local worker's outbox and the batch runs again.
                self._put_back(local)
                _settle(created, exc)
                if self.retry.failed(exc):  # database unreachable: logged once, back-off
                    if local is not None and local.claim_limit:
                        # It may have committed unseen, jobs claimed for our worker included.
                        self.local_worker.claim_failed(local.claimed_at)
                    await self.retry.wait()
                else:
                    log.exception("executor batch failed; retrying")
                    await anyio.sleep(1.0)
                continue
            self.retry.succeeded()
            _settle(created, None)
            if outcome is not None:
                self.backoff.reset()
                if outcome.claimed_jobs and self.local_worker is not None:
                    self.local_worker.take_local(outcome.claimed_jobs)
                self._after_commit(outcome)
                self._asked_store = False  # it may have consumed the store's earliest due
                if self._more_due(outcome):
                    continue
            due = await self._next_due()
            await self.backoff.wait(self.hub.executor_wake, due=due)

    def _more_due(self, outcome: ExecutorOutcome) -> bool:
        """Whether to poll again at once after a batch that did work: its poll came back
        full (more may wait), or it published messages due now (a parent's notice, a
        wake). Otherwise the store holds nothing due that this process knows of, and
        the next poll waits for a wake-up (local results, submissions, NOTIFY) or the
        shortest back-off: an immediate poll would be an empty transaction per batch."""
        if outcome.polled >= self.batch_size:
            return True
        now = time.time()
        return any(not m.available_at or m.available_at <= now for m in outcome.execution_messages)

    async def _next_due(self) -> float | None:
        """The next due date to wake at. With none known, the store is asked once per
        idle period for its earliest (timers published before a restart, or by another
        daemon), so they too end on time rather than at the next poll. Not before the
        shortest wait: while batches follow each other that closely, the polls between
        them find such timers anyway."""
        now = time.time()
        while self._dues and self._dues[0] <= now:
            heapq.heappop(self._dues)
        if self.backoff.current <= self.backoff.min_interval:
            return self._dues[0] if self._dues else None
        if not self._dues and not self._asked_store:
            self._asked_store = True
            try:
                stored = await self.store.next_event_due()
            except Exception:  # an outage: the batch loop reports it; the poll still runs
                stored = None
            if stored is not None and stored > now:
                heapq.heappush(self._dues, stored)
        return self._dues[0] if self._dues else None

    def _local_batch(self) -> tuple[LocalBatch, list[tuple[Execution, asyncio.Future]]]:
        """Take what the local worker finished, and how many new jobs it can start."""
        worker = self.local_worker
        results, done, logs = worker.outbox.take()
        created, self._creating = self._creating, []
        return LocalBatch(
            results=list(results.values()),
            done=done,
            logs=logs,
            claim_for=worker.instance_id,
            claim_limit=worker.free_slots(),
            claimed_at=worker.claim_stamp(),
            # Copies: the batch advances them on the database thread, while the callers
            # keep (and return) the executions as created.
            created=[decode_execution(encode_execution(e)) for e, _ in created],
        ), created

    async def submit(self, executions: list[Execution]) -> None:
        """Store new executions in the next batch's transaction (and advance them there);
        returns once that transaction committed, raises if it failed."""
        done = asyncio.get_running_loop().create_future()
        self._creating.extend((execution, done) for execution in executions)
        self.hub.executor_wake.set()
        await done

    def _put_back(self, local: LocalBatch | None) -> None:
        if local is None or self.local_worker is None or local.empty():
            return
        results = {}
        for message in local.results:
            result = decode_event(message.payload)
            results[getattr(result, "task_run_id", str(id(message)))] = message
        self.local_worker.outbox.put_back(results, local.done, local.logs)

    def _after_commit(self, outcome: ExecutorOutcome) -> None:
        if len(outcome.worker_jobs) > len(outcome.claimed_jobs):  # some wait in the store
            self.hub.worker_wake.set()
        for message in outcome.execution_messages:
            if message.available_at:
                heapq.heappush(self._dues, message.available_at)
        if outcome.new_executions:
            self.hub.executor_wake.set()
        self.hub.logs_stored(outcome.stored_logs)
        self.hub.executions_changed(outcome.executions)
        for execution in outcome.ended:
            for listener in self.ended_listeners:
                try:
                    listener(execution)
                except Exception:
                    log.exception("end-of-execution listener failed for %s", execution.id)

    # -- BatchHandler (runs inside the store's transaction) -----------------------------------
    def missing_flows(self, executions: Iterable[Execution]) -> set[FlowKey]:
        keys = {(e.namespace, e.flow_id, e.flow_revision) for e in executions}
        return {k for k in keys if not self.flows.has(k)}

    def add_flows(self, rows: list[FlowRow]) -> None:
        for row in rows:
            try:
                self.flows.parse(row)
            except Exception as exc:  # a stored revision that no longer parses
                log.error(
                    "flow %s/%s revision %s no longer parses: %s",
                    row.namespace,
                    row.id,
                    row.revision,
                    exc,
                )

    def batch_locks(self, executions: Iterable[Execution]) -> BatchLocks:
        """Flows with a concurrency limit among the batch's executions (any of them may be
        admitted, or end and wake a queued one), and the Flow-trigger windows the
        unfinished ones may touch by ending: what `process` may ask the view."""
        locks = BatchLocks()
        unfinished: set[tuple[str, str]] = set()
        for execution in executions:
            key = (execution.namespace, execution.flow_id)
            flow = self.flows.get(*key, execution.flow_revision)
            if flow is not None and flow.concurrency is not None:
                locks.flows[key] = max(flow.concurrency.limit, locks.flows.get(key, 0))
            if not execution.terminated:
                unfinished.add(key)
        if unfinished:
            for flow, trigger in self.flows.windowed_trigger_candidates():
                if not (trigger.disabled or getattr(flow, "disabled", False)):
                    locks.windows.update(window_keys(flow, trigger, unfinished))
        return locks

    def process(
        self, messages: list[QueueMessage], executions: dict[str, Execution], view: BatchView
    ) -> ExecutorOutcome:
        grouped: dict[str, list[ExecutionEvent]] = {}
        for message in messages:
            try:
                grouped.setdefault(message.key, []).append(decode_event(message.payload))
            except Exception as exc:
                log.error(
                    "dropping undecodable message %s for %s: %s", message.seq, message.key, exc
                )
        outcome = ExecutorOutcome()
        admission = Admission(view)
        self._windows = WindowBook(view, outcome.trigger_windows)
        for execution_id, events in grouped.items():
            execution = executions.get(execution_id)
            if execution is None:
                log.warning("events for unknown execution %s dropped", execution_id)
                continue
            self._advance_one(execution, events, outcome, admission)
        outcome.released_triggers = released_locks(outcome.ended)
        return outcome

    def _admit(
        self,
        execution: Execution,
        flow: Flow,
        events: list[ExecutionEvent],
        outcome: ExecutorOutcome,
        admission: Admission,
    ) -> bool:
        """Flow concurrency: False when the execution must wait (QUEUED) or was refused."""
        if flow.concurrency is None or execution.state.current not in T.ADMISSION.sources:
            return True
        killing = any(isinstance(e, Kill) for e in events)
        refusal = admission.verdict(execution, flow, killing=killing)
        if refusal is None or refusal.state is None:
            return True
        if T.move(execution.state, refusal.state, S.now_iso(), T.EXECUTION):
            outcome.executions.append(execution)
        if refusal.state != S.QUEUED:
            outcome.logs.append(_executor_log(execution, "WARN", refusal.message))
            outcome.ended.append(execution)
            if execution.parent_id and execution.k_parent_task_run_id:
                # A Subflow waiting for it ends with it (FlowConcurrencyCaseTest#flowConcurrencySubflow).
                ended = SubflowEnded(
                    task_run_id=execution.k_parent_task_run_id,
                    child_id=execution.id,
                    state=execution.state.current,
                )
                outcome.execution_messages.append(
                    Outgoing(key=execution.parent_id, payload=encode(ended))
                )
        return False

    def _advance_one(
        self,
        execution: Execution,
        events: list[ExecutionEvent],
        outcome: ExecutorOutcome,
        admission: Admission,
    ) -> None:
        flow = self.flows.get(execution.namespace, execution.flow_id, execution.flow_revision)
        if flow is None:
            if not execution.terminated:
                T.move(execution.state, S.FAILED, S.now_iso(), T.EXECUTION)
                outcome.logs.append(
                    _executor_log(
                        execution, "ERROR", f"flow revision {execution.flow_revision} not found"
                    )
                )
                outcome.executions.append(execution)
                outcome.ended.append(execution)
            return
        seen = len(execution.state.histories)
        if not self._admit(execution, flow, events, outcome, admission):
            self._fire_on_passing_states(execution, flow, outcome, seen)
            return
        state_before = execution.state.current
        seen = len(execution.state.histories)
        try:
            result = advance(execution, flow, events, self.env)
        except Exception as exc:  # a bug must fail one execution, never the daemon
            log.exception("advance failed for execution %s", execution.id)
            T.fail_after_error(execution.state, S.now_iso())
            outcome.logs.append(_executor_log(execution, "ERROR", f"internal error: {exc!r}"))
            outcome.executions.append(execution)
            outcome.ended.append(execution)
            return
        if result.changed:
            outcome.executions.append(execution)
        for job in result.jobs:
            outcome.worker_jobs.append(Outgoing(key=execution.id, payload=encode(job)))
        for delayed in result.delayed:
            outcome.execution_messages.append(
                Outgoing(key=execution.id, payload=encode(delayed.event), available_at=delayed.due)
            )
        for record in result.logs:
            outcome.logs.append(
                NewLog(
                    execution_id=execution.id,
                    namespace=execution.namespace,
                    flow_id=execution.flow_id,
                    task_id=record.task_id,
                    task_run_id=record.task_run_id,
                    attempt=None,
                    level=record.level,
                    timestamp=record.timestamp,
                    message=record.message,
                )
            )
        for notice in result.notices:
            outcome.execution_messages.append(
                Outgoing(key=notice.execution_id, payload=encode(notice.event))
            )
        for created in result.new_executions:
            outcome.new_executions.append(created.execution)
            outcome.execution_messages.append(
                Outgoing(key=created.execution.id, payload=_WAKE, available_at=created.due)
            )
        self._fire_on_passing_states(execution, flow, outcome, seen)
        if result.ended:
            outcome.ended.append(execution)
            for woken in admission.ended(execution, flow, state_before):
                outcome.execution_messages.append(Outgoing(key=woken, payload=_WAKE))
            self._fire_flow_triggers(execution, flow, outcome)

    def _fire_on_passing_states(
        self, execution: Execution, flow: Flow, outcome: ExecutorOutcome, seen: int
    ) -> None:
        """Flow triggers listening to a state the execution entered in this batch without
        ending there (RUNNING, PAUSED, QUEUED, …), once per entry; its end state is
        handled when it ends."""
        for history in execution.state.histories[seen:]:
            if history.state not in S.TERMINATED:
                self._fire_flow_triggers(execution, flow, outcome, history.state)

    def _fire_flow_triggers(
        self, execution: Execution, flow: Flow, outcome: ExecutorOutcome, state: str | None = None
    ) -> None:
        candidates = self.flows.flow_trigger_candidates()
        if not candidates:
            return
        for created in triggered_executions(
            execution,
            flow,
            candidates,
            self.env.renderer,
            secret_key=self.env.secret_key,
            windows=self._windows,
            state=state,
        ):
            outcome.new_executions.append(created)
            outcome.execution_messages.append(Outgoing(key=created.id, payload=_WAKE))


def _executor_log(execution: Execution, level: str, message: str) -> NewLog:
    return NewLog(
        execution_id=execution.id,
        namespace=execution.namespace,
        flow_id=execution.flow_id,
        task_id=None,
        task_run_id=None,
        attempt=None,
        level=level,
        timestamp=S.now_iso(),
        message=message,
    )


def _settle(created: list[tuple[Execution, asyncio.Future[None]]], error: Exception | None) -> None:
    """Tell the submitters of new executions whether their batch committed."""
    for _, future in created:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
