"""`io.kestra.plugin.core.debug.*`: Return and the deprecated Echo."""

from __future__ import annotations

from typing import Any

from kestrad.tasks.base import RunnableTask
from kestrad.tasks.context import RunContext
from kestrad.tasks.core_log import LogLevel
from kestrad.tasks.registry import register


@register("io.kestra.plugin.core.debug.Return", "io.kestra.core.tasks.debugs.Return")
class Return(RunnableTask, kw_only=True):
    """Renders `format` and returns it as `outputs.<id>.value`."""

    format: str | None = None

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        value = ctx.render(self.format) if self.format is not None else None
        return {"value": value}


@register("io.kestra.plugin.core.debug.Echo", "io.kestra.core.tasks.debugs.Echo")
class Echo(RunnableTask, kw_only=True):
    """Deprecated: logs the rendered `format` at `level`."""

    format: str
    level: LogLevel = "INFO"

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        ctx.logger.log(self.level, ctx.render(self.format))
        return None
