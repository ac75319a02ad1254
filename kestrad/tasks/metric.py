"""`io.kestra.plugin.core.metric.Publish`: counters and timers a flow publishes itself.

Each entry renders its `name`, `value` and `tags`; a counter's value is a number, a
timer's a duration (`PT10M`) or a number of seconds. They join the task run's metrics,
like those a script reports (`GET /api/v1/metrics/{executionId}`).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from kestrad.tasks import props
from kestrad.tasks.base import RunnableTask, TaskFailed
from kestrad.tasks.context import RunContext
from kestrad.tasks.registry import register


class MetricEntry(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """One metric to publish (Kestra's AbstractMetric: `type` counter or timer)."""

    type: Literal["counter", "timer"]
    name: str
    value: int | float | str
    tags: props.Map | None = None


@register("io.kestra.plugin.core.metric.Publish")
class Publish(RunnableTask, kw_only=True):
    """Publishes `metrics` on this task run."""

    metrics: list[MetricEntry]

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        for index, entry in enumerate(self.metrics):
            where = f"metrics[{index}]"
            name = ctx.render(entry.name)
            if not isinstance(name, str) or not name:
                raise TaskFailed(f"`{where}.name` must render to a non-empty string")
            value = ctx.render_typed(entry.value) if isinstance(entry.value, str) else entry.value
            ctx.metric(
                name,
                entry.type,
                _seconds(value, f"{where}.value")
                if entry.type == "timer"
                else _number(value, f"{where}.value"),
                {str(k): str(v) for k, v in ctx.mapping(entry.tags, f"{where}.tags").items()},
            )
        return None


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise TaskFailed(f"`{name}` must be a number, got `{value}`")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TaskFailed(f"`{name}` must be a number, got `{value}`") from None


def _seconds(value: Any, name: str) -> float:
    """A timer: an ISO-8601 duration, or a number of seconds."""
    if isinstance(value, str) and value.strip().upper().startswith(("P", "-P", "+P")):
        return props.duration(value, name).total_seconds()
    return _number(value, name)
