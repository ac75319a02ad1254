"""`io.kestra.plugin.core.log.*`: tasks that write to the execution's log."""

from __future__ import annotations

from typing import Any, Literal

from kestrad.tasks.base import RunnableTask
from kestrad.tasks.registry import register

LogLevel = Literal["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]


@register("io.kestra.plugin.core.log.Log", "io.kestra.core.tasks.log.Log")
class Log(RunnableTask, kw_only=True):
    """Logs one message, or each message of a list, at `level`."""

    message: Any
    level: LogLevel = "INFO"

    async def run(self, ctx: Any) -> dict[str, Any] | None:
        messages = self.message if isinstance(self.message, list) else [self.message]
        for message in messages:
            rendered = ctx.render(message)
            ctx.logger.log(self.level, rendered if isinstance(rendered, str) else str(rendered))
        return None
