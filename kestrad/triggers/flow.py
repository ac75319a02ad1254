"""`io.kestra.plugin.core.trigger.Flow`: fires when executions of other flows end.

The schema and what can be decided on one ended execution without I/O: whether its state
and simple conditions let the trigger fire. Windowed conditions (`preconditions`,
MultipleCondition) are compiled in `triggers/preconditions.py`; the executor evaluates
Flow triggers for every ended execution and keeps their windows in its batch
(`runtime/flow_triggers.py`). The scheduler never fires them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal

import msgspec

from kestrad.model.execution import Execution, ExecutionTrigger
from kestrad.model.flow import Flow
from kestrad.model.inputs import InputsInvalid, input_defaults, resolve_inputs
from kestrad.model.state import TERMINATED
from kestrad.triggers.base import State, Trigger
from kestrad.triggers.execution_conditions import execution_matches, short_type
from kestrad.triggers.kind import BaseKind, Rendering, flow_labels, labelled
from kestrad.triggers.registry import register_kind

_ENDED = sorted(TERMINATED)


class _Strict(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    pass


class UpstreamFlow(_Strict):
    """One upstream flow a precondition waits for."""

    namespace: str
    flow_id: str | None = None
    states: list[State] | None = None
    labels: dict[str, Any] | None = None


class Filter(_Strict):
    """One filter of a `where` clause."""

    field: Literal["FLOW_ID", "NAMESPACE", "STATE", "EXPRESSION"]
    type: Literal[
        "EQUAL_TO",
        "NOT_EQUAL_TO",
        "IN",
        "NOT_IN",
        "IS_TRUE",
        "IS_FALSE",
        "IS_NULL",
        "IS_NOT_NULL",
        "STARTS_WITH",
        "ENDS_WITH",
        "REGEX",
        "CONTAINS",
    ]
    value: str | None = None
    values: list[str] | None = None


class Where(_Strict):
    """A named group of filters on upstream executions."""

    id: str
    filters: list[Filter]
    operand: Literal["AND", "OR"] = "AND"


class TimeWindow(_Strict):
    """The window within which every precondition must be met."""

    type: Literal[
        "DURATION_WINDOW", "SLIDING_WINDOW", "DAILY_TIME_DEADLINE", "DAILY_TIME_WINDOW"
    ] = "DURATION_WINDOW"
    window: str | None = None
    window_advance: str | None = None
    deadline: str | None = None
    start_time: str | None = None
    end_time: str | None = None


class Preconditions(_Strict):
    """Upstream flows (and filters) that must all be satisfied inside the time window."""

    id: str | None = None
    flows: list[UpstreamFlow] | None = None
    where: list[Where] | None = None
    time_window: TimeWindow | None = None
    reset_on_success: bool = True


class FlowTrigger(Trigger, kw_only=True):
    """Evaluated by the executor on every execution end of other flows."""

    states: list[State] | None = None
    preconditions: Preconditions | None = None


def is_multiple(condition: Any) -> bool:
    """A MultipleCondition: named conditions to be met inside a window."""
    return isinstance(condition, Mapping) and short_type(str(condition.get("type", ""))) in (
        "Multiple",
        "MultipleCondition",
    )


class FlowKind(BaseKind):
    type_name: ClassVar[str] = "io.kestra.plugin.core.trigger.Flow"
    aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.models.triggers.types.Flow",)
    schema: ClassVar[type[Trigger]] = FlowTrigger

    def listens_to(self, trigger: FlowTrigger, state: str) -> bool:
        """Whether an execution in `state` concerns it: a state the trigger lists, one an
        upstream flow of its preconditions lists (Kestra 1.x: MultipleConditionTriggerCaseTest
        #flowTriggerOnPaused), or by default any end state."""
        if state in (trigger.states or _ENDED):
            return True
        flows = trigger.preconditions.flows if trigger.preconditions else None
        return any(state in (upstream.states or ()) for upstream in flows or ())

    def matches(
        self,
        trigger: FlowTrigger,
        upstream: Execution,
        state: str,
        dated: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> bool:
        """Whether its simple (not windowed) conditions hold for `upstream`; `dated`
        answers the Expression and date conditions. Raises ConditionError."""
        simple = [c for c in trigger.conditions or [] if not is_multiple(c)]
        return execution_matches(simple, upstream, state, dated)

    def triggered(
        self,
        flow: Flow,
        trigger: FlowTrigger,
        upstream: Execution,
        outputs: dict[str, Any],
        variables: dict[str, Any],
        rendering: Rendering,
    ) -> Execution:
        """The execution `upstream` triggers, with `outputs` (its own, or merged over a
        window) as `trigger.outputs`. Raises ExpressionError when its inputs cannot be
        rendered; inputs that do not fit the flow fall back to the flow's defaults."""
        context = variables
        if outputs is not upstream.outputs:
            context = {**variables, "trigger": {**variables["trigger"], "outputs": outputs}}
        renderer = rendering.renderer
        rendered = renderer.render_value(trigger.inputs or {}, context)
        try:
            inputs = resolve_inputs(
                flow, rendered, renderer=renderer, secret_key=rendering.secret_key
            )
        except InputsInvalid:
            inputs = {**input_defaults(flow), **rendered}
        execution = Execution.new(
            namespace=flow.namespace,
            flow_id=flow.id,
            flow_revision=flow.revision,
            inputs=inputs,
            trigger=ExecutionTrigger(
                id=trigger.id, type=trigger.type, variables=trigger_variables(upstream)
            ),
        )
        labels = flow_labels(flow)
        labels.update(trigger.labels or {})
        labels["system.correlationId"] = execution.id
        return labelled(execution, labels).execution

    def windowed(self, trigger: FlowTrigger) -> bool:
        """Whether it keeps windows (preconditions or a MultipleCondition)."""
        return trigger.preconditions is not None or any(
            is_multiple(c) for c in trigger.conditions or ()
        )


def trigger_variables(upstream: Execution) -> dict[str, Any]:
    """`trigger.*` of an execution a Flow trigger started: which execution ended, how."""
    return {
        "executionId": upstream.id,
        "namespace": upstream.namespace,
        "flowId": upstream.flow_id,
        "flowRevision": upstream.flow_revision,
        "state": upstream.state.current,
    }


FLOW = register_kind(FlowKind())
