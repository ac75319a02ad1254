"""The worker: claims jobs from the `worker` topic and runs runnable tasks.

Concurrency is bounded by a slot count. Results and log lines go to an outbox flushed in
one transaction per batch (group commit): the job rows are deleted in the same transaction
that publishes their results, so a crash loses nothing and a job is never both done and
pending. A RUNNING notice still in the outbox when the task ends is replaced by its result.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

import anyio
import msgspec

from kestrad.expr.engine import ExpressionError, Renderer, truthy
from kestrad.model import state as S
from kestrad.model.durations import DurationError
from kestrad.model.execution import Metric
from kestrad.model.ids import new_id
from kestrad.model.inputs import reveal_secrets
from kestrad.model.messages import DynamicRun, TaskResult, WorkerJob, decode_job, encode
from kestrad.model.state import History, now_iso
from kestrad.runtime.flow_cache import FlowCache
from kestrad.runtime.hub import Hub
from kestrad.runtime.poll import Backoff
from kestrad.runtime.variables import envs_from_environment
from kestrad.storage import StorageError
from kestrad.store.base import NewLog, Outgoing, QueueMessage, Store
from kestrad.store.outage import Retry
from kestrad.tasks import working_cache
from kestrad.tasks.base import Task, TaskFailed, TaskOutcome
from kestrad.tasks.context import RunContext, TaskLogger, current_secret_values
from kestrad.tasks.core_flow import WorkingDirectory
from kestrad.tasks.runner import current as current_runner
from kestrad.tasks.script_files import (
    input_file_map,
    match_output_files,
    output_globs,
    upload_output_files,
    write_input_files,
)
from kestrad.tasks.services import TaskServices

log = logging.getLogger("kestrad.worker")
# Seconds a task runs before the worker reports it RUNNING (quick tasks only report the end).
RUNNING_NOTICE_DELAY = 0.2


class Outbox:
    """Pending results (by task run) and log lines, flushed together."""

    def __init__(self, *, wake: asyncio.Event | None = None) -> None:
        self.results: dict[str, Outgoing] = {}
        self.done: list[int] = []
        self.logs: list[NewLog] = []
        self.ready = asyncio.Event()
        # Also set on every put when an executor in this process drains the outbox.
        self.wake = wake

    def _signal(self) -> None:
        self.ready.set()
        if self.wake is not None:
            self.wake.set()

    def put_result(self, task_run_id: str, message: Outgoing, done_seq: int | None) -> None:
        self.results[task_run_id] = message
        if done_seq is not None:
            self.done.append(done_seq)
        self._signal()

    def put_log(self, entry: NewLog) -> None:
        self.logs.append(entry)
        self._signal()

    def take(self) -> tuple[dict[str, Outgoing], list[int], list[NewLog]]:
        results, done, logs = self.results, self.done, self.logs
        self.results, self.done, self.logs = {}, [], []
        self.ready.clear()
        return results, done, logs

    def put_back(self, results: dict[str, Outgoing], done: list[int], logs: list[NewLog]) -> None:
        """Return a batch that could not be stored; newer results for a run win."""
        for task_run_id, message in results.items():
            self.results.setdefault(task_run_id, message)
        self.done[:0] = done
        self.logs[:0] = logs
        self._signal()


def _skipped(task: Any, ctx: RunContext) -> str | None:
    """SKIPPED when the task's `runIf` or `when` renders falsy, FAILED when one does not
    render (the error logged, and Kestra creates no run for it:
    WorkingDirectoryTest#invalidRunIf), None when the task runs."""
    for name, condition in task.run_conditions():
        try:
            if not truthy(ctx.render(condition)):
                return S.SKIPPED
        except ExpressionError as exc:
            ctx.logger.error(f"{name}: {exc}")
            return S.FAILED
    return None


def _log_json(entry: Any) -> dict[str, Any]:
    """A log line as Kestra's LogEntry map, for `errorLogs()`."""
    return {
        "namespace": entry.namespace,
        "flowId": entry.flow_id,
        "taskId": entry.task_id,
        "executionId": entry.execution_id,
        "taskRunId": entry.task_run_id,
        "attemptNumber": entry.attempt,
        "timestamp": entry.timestamp,
        "level": entry.level,
        "message": entry.message,
    }


class Worker:
    """Runs runnable tasks; one instance per daemon."""

    def __init__(
        self,
        store: Store,
        flows: FlowCache,
        renderer: Renderer,
        hub: Hub,
        *,
        instance_id: str,
        concurrency: int,
        max_deliveries: int = 3,
        services: TaskServices | None = None,
        results_to_local_executor: bool = False,
        min_poll_interval: float = 0.005,
        max_poll_interval: float = 0.5,
        globals_: dict[str, Any] | None = None,
        secret_key: str | None = None,
    ) -> None:
        """`services`: what tasks may ask of the daemon (KV, log.Fetch, …), None outside an
        engine. `results_to_local_executor`: the executor of this process takes finished
        results from the outbox into its own transaction (one commit per round trip), so
        this worker does not flush them itself and wakes that executor instead.
        `max_deliveries`: how many worker deaths a job may cause before it fails instead
        of running again (see `_run_job`)."""
        self.store = store
        self.flows = flows
        self.renderer = renderer
        self.hub = hub
        self.instance_id = instance_id
        self.concurrency = max(concurrency, 1)
        self.max_deliveries = max(max_deliveries, 1)
        self.backoff = Backoff(min_poll_interval, max_poll_interval)
        # Database outages (store/outage.py): each store-facing loop waits its own back-off.
        self._claim_retry = Retry(store, "claiming worker jobs")
        self._flush_retry = Retry(store, "storing worker results")
        self.globals = globals_ or {}
        # Decrypts SECRET inputs for the task that renders them (None: they stay encrypted).
        self.secret_key = secret_key
        self.services = services
        self.outbox = Outbox(wake=hub.executor_wake if results_to_local_executor else None)
        self.flush_results = not results_to_local_executor
        # Jobs the local executor inserted already claimed for this worker.
        self.local_jobs: deque[QueueMessage] = deque()
        self.running = 0
        # Stamps of claim attempts that met an outage: they may have committed unseen.
        self.uncertain_claims: list[float] = []
        self._last_stamp = 0.0
        self._slot_freed = asyncio.Event()
        self._scopes: dict[str, set[anyio.CancelScope]] = {}
        # Running jobs: each an asyncio task whose body runs in a cancel scope (see _start).
        self._jobs: set[asyncio.Task[None]] = set()
        self._job_scopes: set[anyio.CancelScope] = set()
        self._accepting = False  # True while `run` runs: jobs may start
        self.stopping = False
        # `errorLogs()` per running task run: read from the store before the task renders
        # (renders cannot await), only for tasks whose templates call it.
        self._error_logs: dict[str, list[dict[str, Any]]] = {}
        renderer.register_function("errorLogs", self._error_logs_function, pass_context=True)
        hub.subscribe_executions(self._on_execution_change)

    def _on_execution_change(self, execution: Any) -> None:
        """A killed (or otherwise ended) execution: cancel what still runs for it here."""
        if execution.state.current in S.TERMINATED:
            for scope in self._scopes.get(execution.id, ()):
                scope.cancel()

    def free_slots(self) -> int:
        """Slots neither running a task nor promised to a job handed over in memory."""
        return max(self.concurrency - self.running - len(self.local_jobs), 0)

    def claim_stamp(self) -> float:
        """A `claimed_at` no other claim attempt of this worker shares (see
        release_worker_claims): the clock, nudged forward if it did not move."""
        stamp = max(time.time(), self._last_stamp + 1e-6)
        self._last_stamp = stamp
        return stamp

    def claim_failed(self, stamp: float) -> None:
        """A claim attempt met an outage: its jobs may be claimed unseen; hand them back
        once the database answers (done by the claim loop)."""
        self.uncertain_claims.append(stamp)

    async def _release_uncertain(self) -> None:
        stamps, self.uncertain_claims = self.uncertain_claims, []
        try:
            released = await self.store.release_worker_claims(self.instance_id, stamps)
        except Exception:
            self.uncertain_claims[:0] = stamps  # tried again after the next claim
            raise
        if released:
            log.info(
                "%d job(s) claimed by an attempt whose answer the outage lost: handed out again",
                released,
            )

    def take_local(self, jobs: list[QueueMessage]) -> None:
        """Jobs inserted already claimed for this worker by the local executor: started
        at once. Their slots were counted free when the executor's batch began (local
        jobs not yet started count as taken in `free_slots`); should store claims have
        filled them meanwhile, the rest wait for the claim loop and a freed slot.

        Why not through the claim loop: waking it for jobs that are already here made it
        poll the store too, one empty claim statement per hand-over."""
        self.local_jobs.extend(jobs)
        while self._accepting and self.local_jobs and self.running < self.concurrency:
            self._start(self.local_jobs.popleft())
        if self.local_jobs:  # not running yet, or no slot: the claim loop starts them
            self.hub.worker_wake.set()

    async def run(self) -> None:
        async with anyio.create_task_group() as tg:
            if self.flush_results:
                tg.start_soon(self._flush_loop)
            self._accepting = True
            try:
                await self._claim_loop()
            finally:
                self._accepting = False
                await self._cancel_jobs()
            tg.cancel_scope.cancel()

    def _start(self, message: QueueMessage) -> None:
        """Run a claimed job in a task of its own.

        Why a bare asyncio task and not the task group's `start_soon`: anyio's spawn costs
        several times a Log task's whole run, twice per execution of a two-task flow. What
        the group gave is kept: each job's body runs in a cancel scope (`_run_job`) that
        `_cancel_jobs` cancels when the worker stops, so shielded clean-ups (a script's
        process group) still run to their end, and `run` returns only after every job."""
        self.running += 1
        task = asyncio.get_running_loop().create_task(self._run_job(message))
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    async def _cancel_jobs(self) -> None:
        """Cancel the running jobs and wait for them (their shielded clean-ups included)."""
        for scope in list(self._job_scopes):
            scope.cancel()
        if self._jobs:
            with anyio.CancelScope(shield=True):
                await asyncio.wait(list(self._jobs))

    async def _claim_loop(self) -> None:
        while not self.stopping:
            free = self.concurrency - self.running
            if free <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            if self.local_jobs:
                while self.local_jobs and self.running < self.concurrency:
                    self._start(self.local_jobs.popleft())
                continue
            stamp = self.claim_stamp()
            try:
                if self.uncertain_claims:
                    await self._release_uncertain()
                jobs = await self.store.claim_worker_jobs(
                    self.instance_id, min(free, 100), at=stamp
                )
            except Exception as exc:
                if not self._claim_retry.failed(exc):
                    raise
                self.claim_failed(stamp)
                await self._claim_retry.wait()  # database unreachable: logged once
                continue
            self._claim_retry.succeeded()
            if not jobs:
                await self.backoff.wait(self.hub.worker_wake)
                continue
            self.backoff.reset()
            for message in jobs:
                self._start(message)

    async def _flush_loop(self) -> None:
        while True:
            await self.outbox.ready.wait()
            await asyncio.sleep(0)  # let tasks finishing in this loop turn join the batch
            results, done, logs = self.outbox.take()
            try:
                stored = await self.store.complete_worker_jobs(list(results.values()), done, logs)
            except Exception as exc:
                # Kept, never dropped: back in the outbox (newer results for a run win),
                # written by the next attempt with whatever finished meanwhile.
                self.outbox.put_back(results, done, logs)
                if self._flush_retry.failed(exc):  # database unreachable: logged once
                    await self._flush_retry.wait()
                else:
                    log.exception("could not store %d worker results; retrying", len(results))
                    await anyio.sleep(1.0)
                continue
            self._flush_retry.succeeded()
            self.hub.executor_wake.set()
            self.hub.logs_stored(stored)

    async def _run_job(self, message: QueueMessage) -> None:
        """Run one claimed job. A redelivered job (its worker died, or a graceful stop gave
        it back) is a new attempt of its task run: the executor marks the earlier ones
        RESUBMITTED, and the task sees the count in `taskrun.attemptsCount`. A job whose
        workers died `max_deliveries` times is not run again: it fails its task run, once
        and for all (no retry), with the reason in the task's log."""
        scope = anyio.CancelScope()  # the worker's stop (see _start)
        self._job_scopes.add(scope)
        try:
            with scope:
                if not self._accepting:  # started after the stop: left to a later claim
                    return
                job = decode_job(message.payload)
                if message.deliveries > 1:
                    attempt = job.attempt + message.deliveries - 1
                    job = msgspec.structs.replace(job, attempt=attempt)
                if message.deaths >= self.max_deliveries:
                    self._refuse_poison(job, message)
                    return
                await self._execute(job, message.seq)
        except Exception:
            log.exception("worker job %s crashed", message.seq)
        finally:
            self._job_scopes.discard(scope)
            self.running -= 1
            self._slot_freed.set()

    def _refuse_poison(self, job: WorkerJob, message: QueueMessage) -> None:
        reason = (
            f"Task {job.task_id} was not run again: its worker died {message.deaths} times "
            f"while running it (worker.max_deliveries = {self.max_deliveries}); "
            "it fails without retry"
        )
        log.error(
            "worker job %s (execution %s, %s.%s task %s, attempt %d): %s",
            message.seq,
            job.execution_id,
            job.namespace,
            job.flow_id,
            job.task_id,
            job.attempt,
            reason,
        )
        TaskLogger(self._log_sink(job), None).error(reason)
        now = now_iso()
        histories = [History(state=S.RUNNING, date=now), History(state=S.FAILED, date=now)]
        result = self._result(job, S.FAILED, histories, None, final=True)
        self.outbox.put_result(job.task_run_id, result, message.seq)

    async def _execute(self, job: WorkerJob, seq: int) -> None:
        started = now_iso()
        histories = [History(state=S.RUNNING, date=started)]
        running = self._result(job, S.RUNNING, histories, None)
        # Tell the executor a task is RUNNING only if it is still running a moment later:
        # most tasks end sooner, and their result alone carries the RUNNING date.
        notice = asyncio.get_running_loop().call_later(
            RUNNING_NOTICE_DELAY, self.outbox.put_result, job.task_run_id, running, None
        )
        metrics: list[Metric] = []
        try:
            state, outputs, dynamic = await self._run_task(job, metrics)
        finally:
            notice.cancel()
        histories = [*histories, History(state=state, date=now_iso())]
        result = self._result(job, state, histories, outputs, dynamic, metrics)
        self.outbox.put_result(job.task_run_id, result, seq)

    def _result(
        self,
        job: WorkerJob,
        state: str,
        histories: list[History],
        outputs: dict[str, Any] | None,
        dynamic: list[DynamicRun] | None = None,
        metrics: list[Metric] | None = None,
        *,
        final: bool = False,
    ) -> Outgoing:
        result = TaskResult(
            task_run_id=job.task_run_id,
            attempt=job.attempt,
            state=state,
            histories=histories,
            outputs=outputs,
            dynamic=dynamic or None,
            metrics=metrics or None,
            final=final,
        )
        return Outgoing(key=job.execution_id, payload=encode(result))

    async def _run_task(
        self, job: WorkerJob, metrics: list[Metric]
    ) -> tuple[str, dict[str, Any] | None, list[DynamicRun]]:
        """Run the job's task; the metrics it reports are appended to `metrics`."""
        flow = await self._flow(job)
        task = flow.find_task(job.task_id) if flow is not None else None
        variables = dict(job.variables)
        secrets = current_secret_values()
        if flow is not None and isinstance(variables.get("inputs"), dict):
            variables["inputs"], revealed = reveal_secrets(
                flow, variables["inputs"], self.secret_key
            )
            if revealed:
                secrets = sorted({*secrets, *revealed}, key=len, reverse=True)
        logger = TaskLogger(self._log_sink(job), getattr(task, "log_level", None), secrets)
        if task is None:
            logger.error(f"task {job.task_id} not found in {job.namespace}/{job.flow_id}")
            return S.FAILED, None, []
        variables.setdefault("envs", envs_from_environment())
        variables.setdefault("globals", self.globals)
        if "taskrun" in variables:
            variables["taskrun"] = {**variables["taskrun"], "attemptsCount": job.attempt - 1}
        if isinstance(task, WorkingDirectory):
            return await self._run_working_directory(job, task, variables, logger)
        if self.services is not None and "errorLogs" in msgspec.json.encode(task).decode():
            entries = await self.services.fetch_logs(job.execution_id, min_level="ERROR")
            self._error_logs[job.task_run_id] = [_log_json(entry) for entry in entries]
        try:
            return await self._run_runnable(job, task, variables, logger, metrics)
        finally:
            self._error_logs.pop(job.task_run_id, None)

    def _error_logs_function(self, context: Any) -> list[dict[str, Any]]:
        """`errorLogs()`: the ERROR lines of the execution so far (Kestra's function, which
        also only works on a worker)."""
        taskrun = context.get("taskrun")
        run_id = taskrun.get("id") if isinstance(taskrun, Mapping) else None
        if run_id not in self._error_logs:
            raise ExpressionError(
                "errorLogs()",
                "The 'errorLogs' function can only be used in the Worker as it access logs "
                "from the database.",
            )
        return self._error_logs[run_id]

    async def _run_runnable(
        self,
        job: WorkerJob,
        task: Any,
        variables: dict[str, Any],
        logger: TaskLogger,
        metrics: list[Metric],
    ) -> tuple[str, dict[str, Any] | None, list[DynamicRun]]:
        ctx = RunContext(
            self.renderer,
            variables,
            logger,
            attempt=job.attempt,
            services=self.services,
            metrics=metrics,
        )
        state, outputs = await self._call(job.execution_id, task, ctx, job.timeout)
        return state, outputs, []

    async def _flow(self, job: WorkerJob) -> Any:
        """The job's flow (from memory, or the store on a miss). The job is claimed and
        must end with a result, so a database outage is waited out, not a failure."""
        retry: Retry | None = None
        while True:
            try:
                return await self.flows.fetch(job.namespace, job.flow_id, job.flow_revision)
            except Exception as exc:
                retry = retry or Retry(self.store, "loading a flow for a worker job")
                if not retry.failed(exc):
                    raise
                await retry.wait()

    async def _call(
        self, execution_id: str, task: Task, ctx: RunContext, timeout: float | None
    ) -> tuple[str, dict[str, Any] | None]:
        """Run one task under the execution's kill scope and its timeout; never raises."""
        logger = ctx.logger
        scope = anyio.CancelScope()
        self._scopes.setdefault(execution_id, set()).add(scope)
        try:
            with scope, anyio.fail_after(timeout) if timeout else _nullcontext():
                returned = await task.run(ctx)
            if scope.cancel_called:
                logger.warn("Killed")
                return S.KILLED, None
        except TimeoutError:
            logger.error(f"Timeout after {timeout:g}s")
            return S.FAILED, None
        except TaskFailed as exc:
            logger.error(str(exc))
            return S.FAILED, exc.outputs
        except ExpressionError as exc:
            logger.error(str(exc))
            return S.FAILED, None
        except Exception as exc:
            logger.error(f"{type(exc).__name__}: {exc}")
            return S.FAILED, None
        finally:
            scopes = self._scopes.get(execution_id)
            if scopes is not None:
                scopes.discard(scope)
                if not scopes:
                    del self._scopes[execution_id]
        if isinstance(returned, TaskOutcome):
            return returned.state, returned.outputs
        return S.SUCCESS, returned

    async def _run_working_directory(
        self, job: WorkerJob, task: Task, variables: dict[str, Any], logger: TaskLogger
    ) -> tuple[str, dict[str, Any] | None, list[DynamicRun]]:
        """Kestra's WorkingDirectory: its runnable children run here, one after the other,
        in one temporary folder; each becomes a task run the executor adds (dynamic runs).
        The first failure stops the rest; the executor then runs the `errors` branch."""
        runner = current_runner()
        run_folder = runner.new_run_folder(job.execution_id)
        folder = run_folder.work
        dynamic: list[DynamicRun] = []
        try:
            ctx = RunContext(
                self.renderer,
                variables,
                logger,
                attempt=job.attempt,
                working_directory=str(folder),
                services=self.services,
            )
            try:
                if task.input_files:
                    files = input_file_map(ctx.render(task.input_files))
                    await write_input_files(folder, files, ctx.storage, job.namespace)
            except (TaskFailed, ExpressionError) as exc:
                logger.error(str(exc))
                return S.FAILED, None, dynamic
            cache = task.cache or None
            uri = None
            if cache is not None:
                try:
                    uri = working_cache.cache_uri(job.namespace, job.flow_id, task.id)
                    ttl = ctx.render(cache.get("ttl")) if cache.get("ttl") else None
                    await anyio.to_thread.run_sync(
                        working_cache.restore, ctx.storage, uri, folder, ttl
                    )
                except (
                    TaskFailed,
                    ExpressionError,
                    DurationError,
                    StorageError,
                    OSError,
                    ValueError,
                ) as exc:
                    logger.warn(f"cache not restored: {exc}")
            outputs = dict(variables.get("outputs") or {})
            parent_run = dict(variables.get("taskrun") or {})
            for child in task.tasks:
                if child.disabled:
                    continue
                run_id, started = new_id(), now_iso()
                child_job = msgspec.structs.replace(job, task_id=child.id, task_run_id=run_id)
                child_logger = TaskLogger(
                    self._log_sink(child_job), child.log_level, logger.secrets
                )
                child_vars = {
                    **variables,
                    "outputs": outputs,
                    "task": {"id": child.id, "type": child.type},
                    "taskrun": {
                        "id": run_id,
                        "startDate": started,
                        "attemptsCount": 0,
                        "parentId": job.task_run_id,
                        "value": parent_run.get("value"),
                    },
                    "workerTaskrun": parent_run,
                }
                child_ctx = RunContext(
                    self.renderer,
                    child_vars,
                    child_logger,
                    attempt=1,
                    working_directory=str(folder),
                    services=self.services,
                    metrics=[],
                )
                skip = _skipped(child, child_ctx)  # runIf / when, as in every other flowable
                if skip == S.FAILED:  # no run for it; the WorkingDirectory fails
                    return S.FAILED, None, dynamic
                if skip is None:
                    state, produced = await self._call(job.execution_id, child, child_ctx, None)
                else:
                    state, produced = skip, None
                dynamic.append(
                    DynamicRun(
                        id=run_id,
                        task_id=child.id,
                        state=state,
                        histories=[
                            History(state=S.RUNNING, date=started),
                            History(state=state, date=now_iso()),
                        ],
                        outputs=produced or {},
                        metrics=child_ctx.metrics or None,
                    )
                )
                if produced:
                    outputs[child.id] = produced
                if state in (S.FAILED, S.KILLED):
                    return state, None, dynamic
            result: dict[str, Any] = {}
            if task.output_files:
                try:
                    found = match_output_files(folder, output_globs(ctx.render(task.output_files)))
                    uris = await upload_output_files(found, ctx.storage, ctx.task_run_uri())
                except (TaskFailed, ExpressionError) as exc:
                    logger.error(str(exc))
                    return S.FAILED, None, dynamic
                result["outputFiles"] = uris
            if cache is not None and uri is not None:
                try:
                    patterns = ctx.render(cache.get("patterns") or [])
                    await anyio.to_thread.run_sync(
                        working_cache.store, ctx.storage, uri, folder, patterns
                    )
                except (TaskFailed, ExpressionError, StorageError, OSError, ValueError) as exc:
                    logger.warn(f"cache not stored: {exc}")
            return S.SUCCESS, result, dynamic
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(runner.remove, run_folder)

    def _log_sink(self, job: WorkerJob):
        def sink(level: str, message: str, timestamp: str) -> None:
            self.outbox.put_log(
                NewLog(
                    execution_id=job.execution_id,
                    namespace=job.namespace,
                    flow_id=job.flow_id,
                    task_id=job.task_id,
                    task_run_id=job.task_run_id,
                    attempt=job.attempt,
                    level=level,
                    timestamp=timestamp,
                    message=message,
                )
            )

        return sink


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
