"""`io.kestra.plugin.core.execution.*`: tasks that act on their own execution."""

from __future__ import annotations

from typing import Any, Literal

from kestrad.expr.engine import ExpressionError, truthy
from kestrad.model.execution import TaskRun, label_pairs
from kestrad.tasks.base import ExecutionUpdatingTask, RunnableTask, TaskFailed
from kestrad.tasks.context import RunContext
from kestrad.tasks.core_log import _rendered_list
from kestrad.tasks.flowable_support import ExecutionView
from kestrad.tasks.props import Bool, LabelSet, Map, TextList
from kestrad.tasks.registry import register
from kestrad.tasks.services import ServiceError, utc_date


@register("io.kestra.plugin.core.execution.Fail", "io.kestra.core.tasks.executions.Fail")
class Fail(RunnableTask, kw_only=True):
    """Fails the task, or only when `condition` renders truthy."""

    condition: str | None = None
    error_message: str = "Task failure"

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        if self.condition is not None and not truthy(ctx.render(self.condition)):
            return None
        raise TaskFailed(ctx.render(self.error_message))


@register("io.kestra.plugin.core.execution.Assert")
class Assert(RunnableTask, kw_only=True):
    """Renders every condition; each falsy one (or one that fails to render) is logged,
    and the task fails if any did, with `errorMessage` appended (Kestra: AssertTest)."""

    conditions: list[str]
    error_message: str | None = None

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        failed = 0
        for condition in self.conditions:
            try:
                holds = truthy(ctx.render(condition))
            except ExpressionError as exc:
                ctx.logger.error(f"Assertion `{condition}` failed, failed to render `{exc}`")
                failed += 1
                continue
            if not holds:
                ctx.logger.error(f"Assertion `{condition}` failed!")
                failed += 1
        if failed:
            message = f"{failed} assertion{'s' if failed > 1 else ''} failed!"
            if self.error_message is not None:
                message += "\n" + str(ctx.render(self.error_message))
            raise TaskFailed(message)
        return None


@register("io.kestra.plugin.core.execution.Labels", "io.kestra.core.tasks.executions.Labels")
class Labels(ExecutionUpdatingTask, kw_only=True):
    """Adds or overrides labels of the running execution; applied by the executor.

    A key given twice keeps its last value; an empty key or value fails the task and adds
    nothing (Kestra: RuntimeLabelsTest#updateGetsDeduplicated, #updateIgnoresEmpty).
    """

    labels: LabelSet

    def apply(self, view: ExecutionView, run: TaskRun) -> None:
        pairs = label_pairs(view.render(run, self.labels))
        for key, value in pairs:
            if not key.strip() or not value.strip():
                raise ValueError(f"label `{key}` has an empty key or value")
        view.merge_labels(pairs)


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`extra` over `base`, nested maps merged rather than replaced (Kestra's deepMerge)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


@register("io.kestra.plugin.core.execution.SetVariables")
class SetVariables(ExecutionUpdatingTask, kw_only=True):
    """Merges rendered `variables` into the execution's `vars` for the tasks after it;
    with `overwrite: false` an existing key fails the task (Kestra: SetVariablesTest)."""

    variables: Map
    overwrite: Bool = True

    def apply(self, view: ExecutionView, run: TaskRun) -> None:
        rendered = view.render_typed(run, self.variables)
        if not isinstance(rendered, dict):
            raise ValueError("`variables` must render to a map")
        current = view.execution_variables()
        if not truthy(view.render(run, self.overwrite)):
            duplicated = [key for key in rendered if key in current]
            if duplicated:
                raise ValueError(
                    "`overwrite` is set to false and the following variables already exist: "
                    + ",".join(duplicated)
                )
        view.replace_variables(_deep_merge(current, rendered))


@register("io.kestra.plugin.core.execution.UnsetVariables")
class UnsetVariables(ExecutionUpdatingTask, kw_only=True):
    """Removes keys (dotted paths reach into maps) from the execution's `vars`; a missing
    parent map fails the task unless `ignoreMissing` (Kestra: UnsetVariablesTest)."""

    variables: TextList
    ignore_missing: Bool = False

    def apply(self, view: ExecutionView, run: TaskRun) -> None:
        keys = view.render_typed(run, self.variables)
        if isinstance(keys, str):
            keys = [keys]
        if not isinstance(keys, list):
            raise ValueError("`variables` must render to a list of keys")
        ignore = truthy(view.render(run, self.ignore_missing))
        current = view.execution_variables()
        for key in keys:
            *parents, last = str(key).split(".")
            node: Any = current
            for part in parents:
                node = node.get(part) if isinstance(node, dict) else None
            if not isinstance(node, dict):
                if ignore:
                    continue
                raise ValueError(f"variable `{key}` does not exist")
            node.pop(last, None)
        view.replace_variables(current)


@register("io.kestra.plugin.core.execution.Kill")
class Kill(ExecutionUpdatingTask, kw_only=True):
    """Kills its own execution (the run ends KILLED); with `propagateKill`, every subflow
    execution it started is killed too, those it did not wait for included."""

    propagate_kill: Bool = False

    def apply(self, view: ExecutionView, run: TaskRun) -> None:
        if truthy(view.render(run, self.propagate_kill)):
            view.kill_subflows()
        view.end_execution(run, "KILLED")


@register("io.kestra.plugin.core.execution.Exit")
class Exit(ExecutionUpdatingTask, kw_only=True):
    """Ends the execution at once in `state`; applied by the executor."""

    state: Literal["SUCCESS", "WARNING", "KILLED", "FAILED", "CANCELED", "CANCELLED"] = "SUCCESS"

    def apply(self, view: ExecutionView, run: TaskRun) -> None:
        view.end_execution(run, "CANCELLED" if self.state == "CANCELED" else self.state)


def _state_list(ctx: RunContext, value: Any) -> list[str] | None:
    if value is None:
        return None
    rendered = ctx.render(value)
    if isinstance(rendered, str):
        rendered = [rendered]
    if not isinstance(rendered, list):
        raise TaskFailed("`states` must be a list of execution states")
    return [str(state).upper() for state in rendered]


@register("io.kestra.plugin.core.execution.Count", "io.kestra.core.tasks.executions.Counts")
class Count(RunnableTask, kw_only=True):
    """Counts executions per flow between two dates; keeps the flows where `expression`
    (rendered with `count`) is true, e.g. `{{ count == 0 }}` to notice a silent flow."""

    expression: str
    start_date: str
    end_date: str | None = None
    flows: list[dict[str, str]] | None = None
    namespaces: TextList | None = None
    states: TextList | None = None

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:

        if self.flows is None and self.namespaces is None:
            raise TaskFailed("You must provide a list of flows or namespaces.")
        flows = None
        if self.flows is not None:
            try:
                flows = [(str(f["namespace"]), str(f["flowId"])) for f in ctx.render(self.flows)]
            except (KeyError, TypeError):
                raise TaskFailed("each of `flows` needs a `namespace` and a `flowId`") from None
        try:
            counts = await ctx.services.count_executions(
                start=utc_date(ctx.render(self.start_date), "startDate"),
                end=utc_date(ctx.render(self.end_date), "endDate") if self.end_date else None,
                states=_state_list(ctx, self.states),
                namespaces=_rendered_list(ctx, self.namespaces, "namespaces"),
                flows=flows,
            )
        except ServiceError as exc:
            raise TaskFailed(str(exc)) from None
        results = [
            {"namespace": c.namespace, "flowId": c.flow_id, "count": c.count}
            for c in counts
            if str(ctx.with_variables({"count": c.count}).render(self.expression)).strip() == "true"
        ]
        return {"results": results, "total": sum(r["count"] for r in results)}


@register(
    "io.kestra.plugin.core.execution.PurgeExecutions",
    "io.kestra.core.tasks.storages.Purge",
    "io.kestra.plugin.core.storage.Purge",
)
class PurgeExecutions(RunnableTask, kw_only=True):
    """Deletes ended executions started up to `endDate`, in batches, with their log lines
    and internal storage files; `namespace` without `flowId` covers child namespaces."""

    end_date: str
    start_date: str | None = None
    namespace: str | None = None
    flow_id: str | None = None
    states: TextList | None = None
    purge_execution: bool = True
    purge_log: bool = True
    purge_metric: bool = True
    purge_storage: bool = True
    batch_size: int = 100

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:

        try:
            counts = await ctx.services.purge_executions(
                end=utc_date(ctx.render(self.end_date), "endDate"),
                start=utc_date(ctx.render(self.start_date), "startDate")
                if self.start_date
                else None,
                namespace=ctx.render(self.namespace) if self.namespace else None,
                flow_id=ctx.render(self.flow_id) if self.flow_id else None,
                states=_state_list(ctx, self.states),
                purge_execution=self.purge_execution,
                purge_log=self.purge_log,
                purge_storage=self.purge_storage,
                batch_size=self.batch_size,
            )
        except ServiceError as exc:
            raise TaskFailed(str(exc)) from None
        return {
            "executionsCount": counts.executions_count,
            "taskOutputsCount": 0,
            "logsCount": counts.logs_count,
            "storagesCount": counts.storages_count,
            "metricsCount": 0,
        }


@register("io.kestra.plugin.core.execution.Resume", "io.kestra.core.tasks.executions.Resume")
class Resume(RunnableTask, kw_only=True):
    """Resumes a PAUSED execution (by default of this flow), with `onResume` inputs."""

    execution_id: str
    namespace: str | None = None
    flow_id: str | None = None
    inputs: Map | None = None

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        flow = ctx.variables["flow"]
        namespace = ctx.render(self.namespace) if self.namespace else flow["namespace"]
        flow_id = ctx.render(self.flow_id) if self.flow_id else flow["id"]
        target = ctx.render(self.execution_id)
        try:
            await ctx.services.resume_execution(
                target, ctx.render(self.inputs or {}), namespace=namespace, flow_id=flow_id
            )
        except Exception as exc:
            raise TaskFailed(str(exc)) from exc
        ctx.logger.info(f"Resumed execution {target}")
        return None
