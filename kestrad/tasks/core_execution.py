"""`io.kestra.plugin.core.execution.*`: tasks that act on their own execution."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from kestrad.expr.engine import truthy
from kestrad.tasks.base import RunnableTask, Task, TaskFailed, TaskKind
from kestrad.tasks.registry import register


@register("io.kestra.plugin.core.execution.Fail", "io.kestra.core.tasks.executions.Fail")
class Fail(RunnableTask, kw_only=True):
    """Fails the task, or only when `condition` renders truthy."""

    condition: Any = None
    error_message: str = "Task failure"

    async def run(self, ctx: Any) -> dict[str, Any] | None:
        if self.condition is not None and not truthy(ctx.render(self.condition)):
            return None
        raise TaskFailed(ctx.render(self.error_message))


@register("io.kestra.plugin.core.execution.Labels", "io.kestra.core.tasks.executions.Labels")
class Labels(Task, kw_only=True):
    """Adds or overrides labels of the running execution; applied by the executor."""

    labels: Any

    kind: ClassVar[TaskKind] = TaskKind.EXECUTION_UPDATING


@register("io.kestra.plugin.core.execution.Exit")
class Exit(Task, kw_only=True):
    """Ends the execution at once in `state`; applied by the executor."""

    state: Literal["SUCCESS", "WARNING", "KILLED", "FAILED", "CANCELED", "CANCELLED"] = "SUCCESS"

    kind: ClassVar[TaskKind] = TaskKind.EXECUTION_UPDATING
