"""`io.kestra.plugin.core.log.*`: tasks that write to the execution's log."""

from __future__ import annotations

import json
from typing import Any, Literal

import anyio
import msgspec

from kestrad.tasks.base import RunnableTask, TaskFailed
from kestrad.tasks.context import RunContext
from kestrad.tasks.props import TextList
from kestrad.tasks.registry import register
from kestrad.tasks.services import ServiceError, utc_date

LogLevel = Literal["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]


@register("io.kestra.plugin.core.log.Log", "io.kestra.core.tasks.log.Log")
class Log(RunnableTask, kw_only=True):
    """Logs one message, or each message of a list, at `level`."""

    message: TextList
    level: LogLevel = "INFO"

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        messages = self.message if isinstance(self.message, list) else [self.message]
        for message in messages:
            rendered = ctx.render(message)
            ctx.logger.log(self.level, rendered if isinstance(rendered, str) else str(rendered))
        return None


def _rendered_list(ctx: RunContext, value: Any, what: str) -> list[str] | None:
    """A list property that may also be one `{{ expr }}` or a JSON string of a list."""

    if value is None:
        return None
    rendered = ctx.render_typed(value) if isinstance(value, str) else ctx.render(value)
    if isinstance(rendered, str):
        try:
            rendered = json.loads(rendered) if rendered.strip().startswith("[") else [rendered]
        except ValueError:
            rendered = [rendered]
    if not isinstance(rendered, list):
        raise TaskFailed(f"`{what}` must be a list")
    return [str(item) for item in rendered]


def _optional(ctx: RunContext, value: Any) -> Any:
    return ctx.render(value) if value is not None else None


@register("io.kestra.plugin.core.log.Fetch", "io.kestra.core.tasks.log.Fetch")
class Fetch(RunnableTask, kw_only=True):
    """Writes an execution's log lines (this one by default) to a file in internal storage.

    Kestra writes ION; the file here is JSON lines (one log entry object per line), which
    the storage tasks and `read()` consume the same way. `size` is the number of lines.
    """

    namespace: str | None = None
    flow_id: str | None = None
    execution_id: str | None = None
    tasks_id: TextList | None = None
    level: LogLevel = "INFO"

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:

        execution_id = _optional(ctx, self.execution_id) or ctx.variables["execution"]["id"]
        namespace = _optional(ctx, self.namespace)
        flow_id = _optional(ctx, self.flow_id)
        try:
            entries = await ctx.services.fetch_logs(
                str(execution_id),
                task_ids=_rendered_list(ctx, self.tasks_id, "tasksId"),
                min_level=self.level,
            )
        except ServiceError as exc:
            raise TaskFailed(str(exc)) from None
        entries = [
            e
            for e in entries
            if (namespace is None or e.namespace == namespace)
            and (flow_id is None or e.flow_id == flow_id)
        ]
        lines = b"".join(
            msgspec.json.encode(
                {
                    "namespace": e.namespace,
                    "flowId": e.flow_id,
                    "executionId": e.execution_id,
                    "taskId": e.task_id,
                    "taskRunId": e.task_run_id,
                    "attemptNumber": e.attempt,
                    "level": e.level,
                    "timestamp": e.timestamp,
                    "message": e.message,
                }
            )
            + b"\n"
            for e in entries
        )
        uri = ctx.task_run_uri().child("logs.jsonl")
        await anyio.to_thread.run_sync(ctx.storage.put, uri, lines)
        return {"size": len(entries), "uri": str(uri)}


@register("io.kestra.plugin.core.log.PurgeLogs")
class PurgeLogs(RunnableTask, kw_only=True):
    """Deletes log lines up to `endDate`; `namespace` alone also covers child namespaces."""

    end_date: str
    start_date: str | None = None
    namespace: str | None = None
    flow_id: str | None = None
    execution_id: str | None = None
    log_levels: TextList | None = None
    purge_execution_logs: bool = True
    purge_non_execution_logs: bool = True
    batch_size: int | None = None

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:

        if not self.purge_execution_logs:
            # Every stored line belongs to an execution: nothing else to purge.
            return {"count": 0, "executionLogsCount": 0, "nonExecutionLogsCount": 0}
        try:
            count = await ctx.services.purge_logs(
                end=utc_date(ctx.render(self.end_date), "endDate"),
                start=utc_date(_optional(ctx, self.start_date), "startDate"),
                namespace=_optional(ctx, self.namespace),
                flow_id=_optional(ctx, self.flow_id),
                execution_id=_optional(ctx, self.execution_id),
                levels=_rendered_list(ctx, self.log_levels, "logLevels"),
            )
        except ServiceError as exc:
            raise TaskFailed(str(exc)) from None
        return {"count": count, "executionLogsCount": count, "nonExecutionLogsCount": 0}
