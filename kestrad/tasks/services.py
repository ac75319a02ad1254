"""What a task may ask of the daemon beyond its own properties, and nothing more.

Tasks never see the store (ARCHITECTURE.md): a few core tasks still need the daemon's
state (the KV store, the log search, execution counts and purges, trigger switches,
resuming an execution). `TaskServices` names that narrow door; the runtime implements it
(`runtime.services.EngineServices`) and hands it to every RunContext as `ctx.services`.
It lives here, with the tasks, so they depend on the promise and not on the engine.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Protocol

import msgspec

from kestrad.model.records import FlowCount, LogEntry


class ServiceError(Exception):
    """A request a task made that cannot be honoured; the task fails with this message."""


class PurgeCounts(msgspec.Struct, kw_only=True):
    """What `execution.PurgeExecutions` deleted."""

    executions_count: int = 0
    logs_count: int = 0
    storages_count: int = 0


class TaskServices(Protocol):
    """The daemon's operations a task may call; each raises ServiceError when refused."""

    async def kv_get(self, namespace: str, key: str) -> tuple[bool, Any]:
        """(found, value); an expired key is not found."""
        ...

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
    ) -> None: ...

    async def kv_delete(self, namespace: str, key: str) -> bool: ...

    async def kv_keys(self, namespace: str, prefix: str | None = None) -> list[str]: ...

    async def fetch_logs(
        self, execution_id: str, *, task_ids: list[str] | None = None, min_level: str = "INFO"
    ) -> list[LogEntry]: ...

    async def purge_logs(
        self,
        *,
        end: str,
        start: str | None = None,
        namespace: str | None = None,
        flow_id: str | None = None,
        execution_id: str | None = None,
        levels: list[str] | None = None,
    ) -> int: ...

    async def count_executions(
        self,
        *,
        start: str | None,
        end: str | None,
        states: list[str] | None = None,
        namespaces: list[str] | None = None,
        flows: list[tuple[str, str]] | None = None,
    ) -> list[FlowCount]: ...

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
    ) -> PurgeCounts: ...

    async def toggle_trigger(
        self, namespace: str, flow_id: str, trigger_id: str, *, enabled: bool
    ) -> None: ...

    async def resume_execution(
        self, execution_id: str, inputs: dict[str, Any] | None, *, namespace: str, flow_id: str
    ) -> None: ...


def utc_date(value: Any, what: str) -> str | None:
    """A rendered date as the store writes dates (ISO-8601 UTC, microseconds, `Z`).

    Stored dates compare as text, so every bound is rewritten to that one form; a date
    without a zone is taken as UTC.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    else:
        try:
            parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise ServiceError(f"`{what}`: `{value}` is not an ISO-8601 date") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
