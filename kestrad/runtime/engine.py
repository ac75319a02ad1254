"""The engine: store, flow cache, executor and worker wired together on one event loop.

`kestrad run`, the daemon and the tests all use this same object, so what a test proves
is what users run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import anyio
import msgspec

from kestrad.config import Config
from kestrad.expr.engine import Renderer
from kestrad.flows.loader import FlowLoadError, Problem, iter_flow_files
from kestrad.model.durations import parse_duration
from kestrad.model.execution import Execution, ExecutionTrigger, Label, to_kestra_json
from kestrad.model.ids import new_id
from kestrad.model.inputs import resolve_inputs
from kestrad.model.state import TERMINATED
from kestrad.runtime.advance import AdvanceEnv
from kestrad.runtime.commands import executions as commands
from kestrad.runtime.executor import Executor
from kestrad.runtime.file_problems import FileProblems
from kestrad.runtime.flow_cache import FlowCache
from kestrad.runtime.hub import Hub
from kestrad.runtime.liveness import LivenessChecker, log_in_flight
from kestrad.runtime.scheduler import Scheduler
from kestrad.runtime.services import EngineServices
from kestrad.runtime.variables import refresh_environment
from kestrad.runtime.worker import Worker
from kestrad.storage import functions as storage_functions
from kestrad.storage import set_default_storage
from kestrad.store.base import LogEntry, Store
from kestrad.store.factory import open_store
from kestrad.store.lease import Lease
from kestrad.store.outage import migrate_when_reachable
from kestrad.store.records import FlowRow
from kestrad.store.session import Session
from kestrad.tasks import process_ledger
from kestrad.tasks import runner as task_runner
from kestrad.tasks.process import configure_slots as configure_process_slots
from kestrad.tasks.process import die_with_daemon_prefix
from kestrad.tasks.runner import TaskRunner

log = logging.getLogger("kestrad.engine")

execution_to_json = to_kestra_json


class FlowNotFound(LookupError):
    """No flow with that namespace and id (or it is disabled)."""


def _open_ledger(work_path: str, instance_id: str) -> process_ledger.ProcessLedger:
    """End what dead daemons of this host left running, then record this one's groups."""
    root = Path(work_path) / ".process-groups"
    for reaped in process_ledger.reap_dead(root, instance_id):
        log.warning(
            "instance %s died leaving process group %d running: killed %s",
            reaped.instance_id,
            reaped.pgid,
            ", ".join(str(pid) for pid in reaped.pids),
        )
    die_with_daemon_prefix()  # looked up once now, not in the first task's time
    ledger = process_ledger.ProcessLedger(root, instance_id).open()
    process_ledger.set_current(ledger)
    return ledger


def _close_ledger(ledger: process_ledger.ProcessLedger) -> None:
    if process_ledger.current() is ledger:
        process_ledger.set_current(None)
    ledger.close()


def store_for(url: str, config: Config, *, lease: Lease | None = None) -> Store:
    """The Store for a database url, with the configuration's store settings; `lease` is
    a daemon's (its connections carry its name and check it before each commit)."""
    database = config.database
    session = Session(
        statement_timeout=parse_duration(database.statement_timeout).total_seconds(),
        idle_in_transaction_timeout=parse_duration(
            database.idle_in_transaction_timeout
        ).total_seconds(),
    )
    return open_store(
        url,
        synchronous=database.synchronous,
        liveness_timeout=parse_duration(config.liveness.timeout).total_seconds(),
        session=session,
        lease=lease,
    )


def new_instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{new_id()[:8]}"


class Engine:
    """A running engine; create it with `Engine.open(...)`."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        roles: str = "executor,worker",
        instance_id: str | None = None,
        lease: Lease | None = None,
    ) -> None:
        """`lease`: the one the store checks before each commit (see Engine.open)."""
        self.config = config
        self.store = store
        self.roles = roles
        chosen = {part.strip() for part in roles.split(",")}
        self.runs_executor = "executor" in chosen
        self.runs_worker = "worker" in chosen
        self.instance_id = instance_id or new_instance_id()
        timeout = parse_duration(config.liveness.timeout).total_seconds()
        self.lease = lease or Lease(self.instance_id, timeout)
        self.liveness = LivenessChecker(store, self.instance_id, config.liveness, self.lease)
        self.hub = Hub()
        # The Scheduler while this daemon holds the scheduler lease (set and cleared by
        # its SchedulerRole as leadership comes and goes); `kestrad run` fires none.
        self.scheduler: Scheduler | None = None
        # Set when a drain starts: long-lived readers (SSE follows) end with a final event.
        self.draining = asyncio.Event()
        self.flows = FlowCache(store)
        # Told of each flow saved, deleted, enabled or disabled through the API (the daemon
        # registers its scheduler's, so a new Schedule is indexed at once); the folder
        # sync tells its own listeners.
        self.flow_listeners: list[Callable[[FlowRow], None]] = []
        # The current load problems of each flows-folder file that does not load, kept by
        # the folder sync (FlowSync) and stored; the UI and API read them with `current()`
        # (any process, whichever syncs): a broken file keeps its flow's last good
        # revision, so the flows alone cannot tell.
        self.file_problems = FileProblems(store)
        globals_ = dict(config.variables.globals)
        self.renderer = Renderer(globals_=globals_)
        storage_functions.register(self.renderer)
        self.secret_key = config.variables.secret_key
        self.advance_env = AdvanceEnv(
            self.renderer, flow_lookup=self._flow_in_memory, secret_key=self.secret_key
        )
        poll = {
            "min_poll_interval": parse_duration(config.queue.min_poll_interval).total_seconds(),
            "max_poll_interval": parse_duration(config.queue.max_poll_interval).total_seconds(),
        }
        # KV, log, execution and trigger operations for tasks (and the `kv()` function).
        self.services = EngineServices(store, scheduler=lambda: self.scheduler)
        self.services.register_functions(self.renderer)
        # Executor and worker in one process: results and jobs pass in memory, one commit
        # per round trip (the executor's), instead of a flush and a poll each way.
        together = self.runs_executor and self.runs_worker
        configure_process_slots(config.worker_processes())
        self.worker = Worker(
            store,
            self.flows,
            self.renderer,
            self.hub,
            instance_id=self.instance_id,
            concurrency=config.worker_concurrency(),
            max_deliveries=config.worker.max_deliveries,
            services=self.services,
            results_to_local_executor=together,
            globals_=globals_,
            secret_key=self.secret_key,
            **poll,
        )
        self.executor = Executor(
            store,
            self.flows,
            self.advance_env,
            self.hub,
            local_worker=self.worker if together else None,
            batch_size=config.queue.batch_size,
            **poll,
        )

    def _flow_in_memory(self, namespace: str, flow_id: str, revision: int | None) -> Any:
        if revision is not None:
            return self.flows.get(namespace, flow_id, revision)
        row = self.flows.latest_row(namespace, flow_id)
        if row is None or row.deleted or row.disabled:
            return None
        return self.flows.latest(namespace, flow_id)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        database_url: str | None = None,
        *,
        config: Config | None = None,
        env: Mapping[str, str] | None = None,
        globals_: Mapping[str, Any] | None = None,
        secret_key: str | None = None,
        roles: str = "executor,worker",
        database_wait: float = 0.0,
    ) -> AsyncIterator[Engine]:
        """Start an engine; on exit stop its loops and close the store.

        An unreachable database is waited for up to `database_wait` seconds, then
        reported as DatabaseUnreachable (one line naming the url, password hidden).

        Without a database url (and no config naming one) the store is a temporary SQLite
        file, removed on exit. `env` is added to the process environment (secrets, envs).
        `roles` (the daemon's, recorded on the instance row) says whether the executor and
        the worker loops run here; without them this engine only creates and reads.
        """
        config = config or Config()
        if globals_ is not None:
            config.variables.globals = dict(globals_)
        if secret_key is not None:
            config.variables.secret_key = secret_key
        previous = {key: os.environ.get(key) for key in env or {}}
        if env:
            os.environ.update(env)
        refresh_environment()
        with contextlib.ExitStack() as stack:
            if env:  # the caller's variables are this engine's, not the process's for good
                stack.callback(_restore_environment, previous)
            if database_url is None and config is not None and _is_default_url(config):
                folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="kestrad-"))
                database_url = f"sqlite:///{folder}/kestrad.db"
            url = database_url or config.database.url
            set_default_storage(config.storage_path(url))
            task_runner.configure(
                TaskRunner(config.work_path(url), config.tasks.runner, config.tasks.user)
            )
            stack.callback(task_runner.configure, None)
            instance_id = new_instance_id()
            timeout = parse_duration(config.liveness.timeout).total_seconds()
            lease = Lease(instance_id, timeout)
            store = store_for(url, config, lease=lease)
            await migrate_when_reachable(store, url, database_wait)
            engine = cls(config, store, roles=roles, instance_id=instance_id, lease=lease)
            try:
                in_flight = await store.register_instance(engine.instance_id, engine.roles)
                log_in_flight(in_flight, "died (found at this start)")
                if engine.runs_worker:
                    ledger = _open_ledger(config.work_path(url), engine.instance_id)
                    stack.callback(_close_ledger, ledger)
                await engine.flows.load_all()
                async with anyio.create_task_group() as tg:
                    tg.start_soon(lease.wait_lost)  # fenced by another daemon: stop
                    await tg.start(engine.services.run)
                    if engine.runs_executor:
                        tg.start_soon(engine.executor.run)
                    if engine.runs_worker:
                        tg.start_soon(engine.worker.run)
                    tg.start_soon(engine.liveness.heartbeat)
                    wakes = engine.wake_channels()
                    if wakes:  # PostgreSQL's NOTIFY hints; SQLite's listen returns at once
                        tg.start_soon(store.listen, wakes)
                    tg.start_soon(engine.liveness.run)
                    try:
                        yield engine
                    finally:
                        tg.cancel_scope.cancel()
            finally:
                with contextlib.suppress(Exception):
                    await store.stop_instance(engine.instance_id)
                await store.close()

    def wake_channels(self) -> dict[str, asyncio.Event]:
        """The NOTIFY channels (PostgreSQL) whose notices wake this engine's consumers."""
        wakes = {}
        if self.runs_executor:
            wakes["kestrad_execution"] = self.hub.executor_wake
        if self.runs_worker:
            wakes["kestrad_worker"] = self.hub.worker_wake
        return wakes

    # -- shutdown -----------------------------------------------------------------------------
    def stop_claiming(self) -> None:
        """The worker takes no new job; jobs it already runs go on to their end.

        With no free slot its claim loop only waits for freed slots, which never reopen.
        (Its `stopping` flag would also cancel the running jobs: that is the last step.)
        """
        self.worker.concurrency = 0
        self.draining.set()

    async def drain(self, grace: float) -> int:
        """Let running worker tasks finish within `grace` seconds; returns how many did not.

        The executor keeps recording results meanwhile, so an execution whose last task
        ends during the drain is stored as ended, not left RUNNING until the next start.
        Tasks still running when `grace` runs out are cancelled by closing the engine; their
        jobs stay claimed by this instance, and `stop_instance` hands them out again at the
        next start (at-least-once, never FAILED).
        """
        self.stop_claiming()
        deadline = time.monotonic() + grace
        while self.worker.running and time.monotonic() < deadline:
            await anyio.sleep(0.05)
        left = self.worker.running
        # Jobs handed over in memory but never started stay claimed too (released later).
        unstarted = len(getattr(self.worker, "local_jobs", ()))
        # Results of finished jobs reach the store in the next flush (the worker's, or the
        # executor's batch when they share the process), a moment later.
        settle = time.monotonic() + 5.0
        while time.monotonic() < settle:
            if await self.store.count_worker_claims(self.instance_id) <= left + unstarted:
                break
            self.hub.executor_wake.set()
            await anyio.sleep(0.02)
        # One more executor pass over what is due, so those results advance their executions.
        while time.monotonic() < settle:
            due = await self.store.next_event_due()
            if due is None or due > time.time():
                break
            self.hub.executor_wake.set()
            await anyio.sleep(0.02)
        return left

    # -- flows --------------------------------------------------------------------------------
    async def deploy_source(
        self, source: str, *, file: str | None = None, parsed: Any = None
    ) -> Any:
        """Validate and store a flow; raises FlowLoadError with every problem. `parsed`:
        the Flow already loaded from `source` (by the folder watcher)."""
        return await self.flows.deploy(source, file=file, parsed=parsed)

    async def deploy_directory(self, path: str | Path) -> list[Problem]:
        """Deploy every flow file under `path` that validates; return the others' problems."""
        problems: list[Problem] = []
        for file in iter_flow_files(Path(path)):
            try:
                await self.deploy_source(file.read_text(), file=str(file))
            except FlowLoadError as exc:
                problems.extend(exc.problems)
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(
                    Problem(file=str(file), line=None, column=None, path="", message=str(exc))
                )
        return problems

    async def delete_flow(self, namespace: str, flow_id: str) -> bool:
        """Mark a flow deleted (its revisions stay for running executions); False if absent."""
        row = self.flows.latest_row(namespace, flow_id) or await self.store.get_flow(
            namespace, flow_id
        )
        if row is None or row.deleted:
            return False
        await self.store.set_flow_flags(row, disabled=row.disabled, deleted=True)
        deleted = msgspec.structs.replace(row, deleted=True)
        self.flows.remember(deleted)
        self.flow_saved(deleted)
        return True

    async def set_flow_disabled(self, row: FlowRow, disabled: bool) -> FlowRow:
        """Disable or enable a flow (its triggers stop or start firing)."""
        await self.store.set_flow_flags(row, disabled=disabled, deleted=row.deleted)
        changed = msgspec.structs.replace(row, disabled=disabled)
        self.flows.remember(changed)
        self.flow_saved(changed)
        return changed

    def flow_saved(self, row: FlowRow) -> None:
        """Tell the listeners (the scheduler) that a flow changed outside the folder sync."""
        for listener in list(self.flow_listeners):
            listener(row)

    # -- executions ---------------------------------------------------------------------------
    async def create_execution(
        self,
        namespace: str,
        flow_id: str,
        inputs: Mapping[str, Any] | None = None,
        labels: Mapping[str, str] | None = None,
        *,
        trigger: ExecutionTrigger | None = None,
        revision: int | None = None,
        execution_id: str | None = None,
    ) -> Execution:
        """Resolve inputs and store a new execution (CREATED) with its first queue message.

        `execution_id` is for callers that stored the execution's input files first (their
        URIs hold the id); otherwise a fresh one is made.
        """
        execution = await self.build_execution(
            namespace,
            flow_id,
            inputs,
            labels,
            trigger=trigger,
            revision=revision,
            execution_id=execution_id,
        )
        await self.store_executions([execution])
        return execution

    async def build_execution(
        self,
        namespace: str,
        flow_id: str,
        inputs: Mapping[str, Any] | None = None,
        labels: Mapping[str, str] | None = None,
        *,
        trigger: ExecutionTrigger | None = None,
        revision: int | None = None,
        execution_id: str | None = None,
    ) -> Execution:
        """A new execution (CREATED, inputs resolved), not stored yet: see `store_executions`.

        Split from `create_execution` so callers creating many at once (the HTTP API under
        load) can store them in one transaction.
        """
        flow = await self.flows.fetch(namespace, flow_id, revision)
        row = self.flows.latest_row(namespace, flow_id)
        if flow is None or (row is not None and (row.deleted or row.disabled)) or flow.disabled:
            raise FlowNotFound(f"flow {namespace}/{flow_id} not found or disabled")
        resolved = resolve_inputs(
            flow, dict(inputs or {}), renderer=self.renderer, secret_key=self.secret_key
        )
        execution = Execution.new(
            namespace=namespace,
            flow_id=flow_id,
            flow_revision=flow.revision,
            inputs=resolved,
            trigger=trigger,
            execution_id=execution_id,
        )
        merged = {k: v for k, v in (flow.labels or {}).items() if not k.startswith("system.")}
        merged.update(labels or {})
        merged.setdefault("system.correlationId", execution.id)
        execution.labels = [Label(key=k, value=str(v)) for k, v in merged.items()]
        return execution

    async def store_executions(self, executions: list[Execution]) -> None:
        """Store built executions with their first queue messages, in one transaction.

        With the executor in this process they go into its next batch: inserted and first
        advanced in one commit. Otherwise they are queued for whichever executor polls.
        """
        if self.executor.local_worker is not None and not self.executor.stopping:
            await self.executor.submit(executions)
            return
        await self.store.create_executions(executions)
        self.hub.executor_wake.set()

    # Commands go through runtime/commands (checked by the transition rules, which raise
    # CommandRefused or ExecutionNotFound); the engine adds the wake-up of its executor.
    async def kill(self, execution_id: str) -> Execution:
        """Kill an execution that has not ended; returns it as it was before."""
        execution = await commands.kill(self.store, execution_id)
        self.hub.executor_wake.set()
        return execution

    async def pause(self, execution_id: str) -> Execution:
        """Pause a running execution (nothing new starts until it is resumed)."""
        execution = await commands.pause(self.store, execution_id)
        self.hub.executor_wake.set()
        return execution

    async def restart(self, execution_id: str, revision: int | None = None) -> Execution:
        """Run the failed task runs of an ended execution again (same execution id)."""
        execution = await commands.restart(self.store, execution_id, revision)
        self.hub.executor_wake.set()
        return execution

    async def replay(
        self,
        execution_id: str,
        task_run_id: str | None = None,
        inputs: Mapping[str, Any] | None = None,
    ) -> Execution:
        """A new execution replaying this one from the start or from `task_run_id`; with
        `inputs`, those (resolved against its flow revision) instead of the original ones."""
        resolved = None
        source = await self.store.get_execution(execution_id) if inputs is not None else None
        if source is not None:
            flow = await self.flows.fetch(source.namespace, source.flow_id, source.flow_revision)
            if flow is None:
                raise FlowNotFound(f"flow {source.namespace}/{source.flow_id} not found")
            resolved = resolve_inputs(
                flow, dict(inputs or {}), renderer=self.renderer, secret_key=self.secret_key
            )
        execution = await commands.replay(self.store, execution_id, task_run_id, inputs=resolved)
        self.hub.executor_wake.set()
        return execution

    async def resume(
        self,
        execution_id: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        decision: str | None = None,
        comment: str | None = None,
    ) -> Execution:
        """Resume a PAUSED execution, `inputs` becoming its paused runs' `onResume`;
        `decision` (APPROVED / DENIED) answers an Approval task."""
        execution = await commands.resume(
            self.store, execution_id, inputs, decision=decision, comment=comment
        )
        self.hub.executor_wake.set()
        return execution

    async def get_execution(self, execution_id: str) -> Execution | None:
        return await self.store.get_execution(execution_id)

    async def list_executions(
        self, namespace: str | None = None, flow_id: str | None = None, *, limit: int = 100_000
    ) -> list[Execution]:
        return await self.store.list_executions(namespace=namespace, flow_id=flow_id, limit=limit)

    async def logs(self, execution_id: str) -> list[LogEntry]:
        return await self.store.list_logs(execution_id)

    async def wait_for(
        self,
        execution_id: str,
        until: Callable[[Execution], bool] | None = None,
        timeout: float = 60.0,
    ) -> Execution:
        """Wait until `until(execution)` (default: a terminal state); TimeoutError otherwise."""
        check = until or (lambda e: e.state.current in TERMINATED)
        deadline = time.monotonic() + timeout
        event = self.hub.watch(execution_id)
        try:
            while True:
                event.clear()
                execution = await self.store.get_execution(execution_id)
                if execution is not None and check(execution):
                    return execution
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    state = execution.state.current if execution else "missing"
                    raise TimeoutError(f"execution {execution_id} still {state} after {timeout}s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), min(remaining, 1.0))
        finally:
            self.hub.unwatch(execution_id, event)


def _is_default_url(config: Config) -> bool:
    return config.database.url == Config().database.url


def _restore_environment(previous: dict[str, str | None]) -> None:
    """Put back the variables `Engine.open(env=...)` replaced or added."""
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    refresh_environment()
