"""`io.kestra.plugin.core.output.OutputValues`: expose rendered values as outputs."""

from __future__ import annotations

from typing import Any

from kestrad.tasks.base import RunnableTask
from kestrad.tasks.context import RunContext
from kestrad.tasks.registry import register


@register("io.kestra.plugin.core.output.OutputValues")
class OutputValues(RunnableTask, kw_only=True):
    """`values` rendered recursively → `outputs.<id>.values`."""

    values: dict[str, Any] | None = None

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        return {"values": ctx.render(self.values or {})}
