"""`io.kestra.plugin.core.trigger.Toggle`: enable or disable a trigger from a flow."""

from __future__ import annotations

from typing import Any

from kestrad.expr.engine import truthy
from kestrad.tasks.base import RunnableTask, TaskFailed
from kestrad.tasks.context import RunContext
from kestrad.tasks.props import Bool
from kestrad.tasks.registry import register
from kestrad.tasks.services import ServiceError


@register("io.kestra.plugin.core.trigger.Toggle", "io.kestra.core.tasks.trigger.Toggle")
class Toggle(RunnableTask, kw_only=True):
    """Sets a trigger's `disabled` flag; the flow defaults to the current one.

    A running scheduler applies it at once (re-enabling follows the trigger's recovery
    policy); otherwise the trigger's stored state is changed and the next scheduler to
    start or poll picks it up.
    """

    trigger: str
    namespace: str | None = None
    flow_id: str | None = None
    enabled: Bool = False

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:

        flow = ctx.variables["flow"]
        namespace = ctx.render(self.namespace) if self.namespace else flow["namespace"]
        flow_id = ctx.render(self.flow_id) if self.flow_id else flow["id"]
        enabled = ctx.render_typed(self.enabled) if isinstance(self.enabled, str) else self.enabled
        enabled = enabled if isinstance(enabled, bool) else truthy(enabled)
        try:
            await ctx.services.toggle_trigger(
                namespace, flow_id, ctx.render(self.trigger), enabled=enabled
            )
        except ServiceError as exc:
            raise TaskFailed(str(exc)) from None
        ctx.logger.info(
            f"Trigger {self.trigger} of {namespace}.{flow_id} {'enabled' if enabled else 'disabled'}"
        )
        return None
