"""The engine's side of `tasks.services.TaskServices`: what tasks may ask of the daemon.

The Engine builds one over its store and hands it to every RunContext as `ctx.services`;
each method is one job a task type needs, with the filtering and batching rules of
Kestra's own services.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import anyio

from kestrad.expr.engine import Renderer
from kestrad.model.kv import check_key, decode_value, encode_value, expiry
from kestrad.model.records import FlowCount, KVEntry, LogEntry
from kestrad.model.state import TERMINATED
from kestrad.runtime.commands import executions as commands
from kestrad.runtime.commands.triggers import TriggerCommands, TriggerNotFound
from kestrad.runtime.kv import KVMirror, kv_function
from kestrad.runtime.scheduler import Scheduler
from kestrad.storage import default_storage
from kestrad.store.base import Store
from kestrad.store.outage import Retry
from kestrad.tasks.services import PurgeCounts, ServiceError

log = logging.getLogger("kestrad.services")

LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR")
# Seconds between checks for KV changes made by other writers (CLI, other daemons).
KV_REFRESH_INTERVAL = 1.0


class EngineServices:
    """KV, log, execution and trigger operations for tasks, over one store."""

    def __init__(
        self,
        store: Store,
        *,
        scheduler: Callable[[], Scheduler | None] | None = None,
        storage: Callable[[], Any] | None = None,
        refresh_interval: float = KV_REFRESH_INTERVAL,
    ) -> None:
        self.store = store
        self._scheduler = scheduler or (lambda: None)
        self._storage = storage
        self.refresh_interval = refresh_interval
        self.kv_mirror = KVMirror()

    # -- lifecycle ------------------------------------------------------------------------------
    async def run(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        """Load the KV mirror, report started, then follow other writers' changes."""
        await self.refresh_kv(force=True)
        task_status.started()
        retry = Retry(self.store, "refreshing the KV mirror")  # outages: store/outage.py
        while True:
            await anyio.sleep(self.refresh_interval)
            try:
                await self.refresh_kv()
            except Exception as exc:
                if not retry.failed(exc):
                    log.exception("could not refresh the KV mirror")
            else:
                retry.succeeded()

    async def refresh_kv(self, *, force: bool = False) -> bool:
        """Reload the mirror when the table changed since the last load; True if reloaded."""
        stamp = await self.store.kv_stamp()
        if not force and stamp == self.kv_mirror.stamp:
            return False
        self.kv_mirror.replace_all(await self.store.kv_list(), stamp)
        return True

    def register_functions(self, renderer: Renderer) -> None:
        """Add `kv()` to a renderer (it reads the mirror: renders cannot await)."""
        renderer.register_function("kv", kv_function(lambda: self.kv_mirror), pass_context=True)

    @property
    def storage(self) -> Any:
        if self._storage is not None:
            return self._storage()

        return default_storage()

    # -- KV -------------------------------------------------------------------------------------
    async def kv_get(self, namespace: str, key: str) -> tuple[bool, Any]:
        """(found, value); an expired key is not found."""
        entry = await self.store.kv_get(namespace, check_key(key))
        if entry is None or entry.expired(time.time()):
            return False, None
        return True, decode_value(entry)

    async def kv_set(
        self,
        namespace: str,
        key: str,
        value: Any,
        *,
        kv_type: str | None = None,
        ttl: Any = None,
        overwrite: bool = True,
        description: str | None = None,
    ) -> None:
        now = time.time()
        text, stored_type = encode_value(value, kv_type)
        entry = KVEntry(
            namespace=namespace,
            key=check_key(key),
            value=text,
            type=stored_type,
            description=description,
            expires_at=expiry(ttl, now),
            updated=now,
        )
        if not await self.store.kv_set(entry, overwrite=overwrite):
            raise ServiceError(
                f"Cannot set value for key '{key}'. Key already exists and `overwrite` is set "
                "to `false`."
            )
        self.kv_mirror.put(entry)

    async def kv_delete(self, namespace: str, key: str) -> bool:
        """True when a live key was deleted (an expired one is removed but reported missing)."""
        entry = await self.store.kv_get(namespace, check_key(key))
        deleted = await self.store.kv_delete(namespace, key)
        self.kv_mirror.remove(namespace, key)
        return deleted and entry is not None and not entry.expired(time.time())

    async def kv_keys(self, namespace: str, prefix: str | None = None) -> list[str]:
        now = time.time()
        return [
            e.key
            for e in await self.store.kv_list(namespace)
            if not e.expired(now) and (not prefix or e.key.startswith(prefix))
        ]

    # -- logs -----------------------------------------------------------------------------------
    async def fetch_logs(
        self, execution_id: str, *, task_ids: list[str] | None = None, min_level: str = "INFO"
    ) -> list[LogEntry]:
        """Log lines of one execution at `min_level` or above, optionally of some tasks only."""
        wanted = _levels_from(min_level)
        tasks = set(task_ids) if task_ids else None
        out: list[LogEntry] = []
        after = 0
        while True:
            page = await self.store.list_logs(execution_id, after=after)
            if not page:
                return out
            out.extend(
                e for e in page if e.level in wanted and (tasks is None or e.task_id in tasks)
            )
            after = page[-1].seq

    async def purge_logs(
        self,
        *,
        end: str,
        start: str | None = None,
        namespace: str | None = None,
        flow_id: str | None = None,
        execution_id: str | None = None,
        levels: list[str] | None = None,
    ) -> int:
        if flow_id is not None and namespace is None:
            raise ServiceError("`namespace` is required when `flowId` is set")
        return await self.store.purge_logs(
            end=end,
            start=start,
            namespace=namespace,
            flow_id=flow_id,
            execution_id=execution_id,
            levels=levels,
        )

    # -- executions -----------------------------------------------------------------------------
    async def count_executions(
        self,
        *,
        start: str | None,
        end: str | None,
        states: list[str] | None = None,
        namespaces: list[str] | None = None,
        flows: list[tuple[str, str]] | None = None,
    ) -> list[FlowCount]:
        """Counts per flow; every flow named in `flows` appears, with 0 when it never ran."""
        counts = await self.store.count_executions_by_flow(
            start=start, end=end, states=states, namespaces=namespaces, flows=flows
        )
        if not flows:
            return counts
        found = {(c.namespace, c.flow_id): c for c in counts}
        return [found.get(f) or FlowCount(namespace=f[0], flow_id=f[1], count=0) for f in flows]

    async def purge_executions(
        self,
        *,
        end: str,
        start: str | None = None,
        namespace: str | None = None,
        flow_id: str | None = None,
        states: list[str] | None = None,
        purge_execution: bool = True,
        purge_log: bool = True,
        purge_storage: bool = True,
        batch_size: int = 100,
    ) -> PurgeCounts:
        """Delete ended executions in batches, each batch one transaction, then its files.

        Only terminated executions are ever touched, whatever `states` asks: purging a
        running execution would leave its worker jobs pointing at nothing.
        """
        if flow_id is not None and namespace is None:
            raise ServiceError("`namespace` is required when `flowId` is set")
        wanted = sorted(TERMINATED if not states else set(states) & TERMINATED)
        counts = PurgeCounts()
        if not wanted:
            return counts
        after = ""
        while True:
            page = await self.store.ended_executions(
                states=wanted,
                end=end,
                start=start,
                namespace=namespace,
                flow_id=flow_id,
                after=after,
                limit=max(batch_size, 1),
            )
            if not page:
                return counts
            after = page[-1].id
            if purge_execution or purge_log:
                executions, logs = await self.store.delete_executions(
                    [r.id for r in page], executions=purge_execution, logs=purge_log
                )
                counts.executions_count += executions
                counts.logs_count += logs
            if purge_storage:
                storage = self.storage
                for ref in page:
                    counts.storages_count += await anyio.to_thread.run_sync(
                        storage.purge_execution, ref.namespace, ref.flow_id, ref.id
                    )

    # -- triggers -------------------------------------------------------------------------------
    async def toggle_trigger(
        self, namespace: str, flow_id: str, trigger_id: str, *, enabled: bool
    ) -> None:
        """Enable or disable a trigger: through the running scheduler, else in its row."""
        commands = TriggerCommands(self.store, self._scheduler())
        try:
            await commands.set_enabled((namespace, flow_id, trigger_id), enabled)
        except TriggerNotFound as exc:
            raise ServiceError(str(exc)) from None

    async def resume_execution(
        self, execution_id: str, inputs: dict[str, Any] | None, *, namespace: str, flow_id: str
    ) -> None:
        """Resume a PAUSED execution of `namespace/flow_id` (the `execution.Resume` task)."""
        try:
            await commands.resume(self.store, execution_id, inputs, flow=(namespace, flow_id))
        except (commands.ExecutionNotFound, commands.CommandRefused) as exc:
            raise ServiceError(str(exc)) from None


def _levels_from(min_level: str) -> frozenset[str]:
    level = str(min_level).upper()
    level = "WARN" if level == "WARNING" else level
    if level not in LOG_LEVELS:
        raise ServiceError(
            f"unknown log level `{min_level}` (expected one of {', '.join(LOG_LEVELS)})"
        )
    return frozenset(LOG_LEVELS[LOG_LEVELS.index(level) :])
