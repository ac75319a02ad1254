"""Flow triggers (`io.kestra.plugin.core.trigger.Flow`): executions that start when others end.

Evaluated by the executor for each ended execution, against the in-memory list of flows
that declare a Flow trigger (never all flows). A flow never triggers itself.
"""

from __future__ import annotations

import logging
from typing import Any

from kestrad.expr.engine import ExpressionError, Renderer
from kestrad.model.execution import Execution, ExecutionTrigger, Label
from kestrad.model.state import TERMINATED
from kestrad.runtime.conditions import ConditionError, execution_matches, short_type
from kestrad.runtime.variables import ExecutionIndex, base_variables, run_variables

log = logging.getLogger("kestrad.flow_triggers")


def _trigger_vars(upstream: Execution) -> dict[str, Any]:
    return {
        "executionId": upstream.id,
        "namespace": upstream.namespace,
        "flowId": upstream.flow_id,
        "flowRevision": upstream.flow_revision,
        "state": upstream.state.current,
    }


def triggered_executions(
    upstream: Execution,
    upstream_flow: Any,
    candidates: list[tuple[Any, Any]],
    renderer: Renderer,
    *,
    secret_key: str | None = None,
) -> list[Execution]:
    """Executions to create because `upstream` ended: one per matching (flow, trigger)."""
    from kestrad.model.inputs import InputsInvalid, input_defaults, resolve_inputs

    state = upstream.state.current
    created: list[Execution] = []
    variables: dict[str, Any] | None = None
    for flow, trigger in candidates:
        if (flow.namespace, flow.id) == (upstream.namespace, upstream.flow_id):
            continue
        if trigger.disabled or getattr(flow, "disabled", False):
            continue
        states = trigger.states or sorted(TERMINATED)
        if state not in states:
            continue
        conditions = trigger.conditions or []
        if any(short_type(str(c.get("type", ""))) == "MultipleCondition" for c in conditions):
            continue  # windowed conditions are evaluated by the scheduler's trigger state
        if trigger.preconditions is not None:
            continue
        try:
            if not execution_matches(conditions, upstream, state):
                continue
        except ConditionError as exc:
            log.warning("flow trigger %s/%s.%s: %s", flow.namespace, flow.id, trigger.id, exc)
            continue
        if variables is None:
            variables = run_variables(
                base_variables(upstream, upstream_flow), ExecutionIndex(upstream), None, None
            )
            variables["trigger"] = {**_trigger_vars(upstream), "outputs": upstream.outputs}
        try:
            rendered = renderer.render_value(trigger.inputs or {}, variables)
        except ExpressionError as exc:
            log.warning(
                "flow trigger %s/%s.%s: inputs not rendered: %s",
                flow.namespace,
                flow.id,
                trigger.id,
                exc,
            )
            continue
        try:
            inputs = resolve_inputs(flow, rendered, renderer=renderer, secret_key=secret_key)
        except InputsInvalid:
            inputs = {**input_defaults(flow), **rendered}
        execution = Execution.new(
            namespace=flow.namespace,
            flow_id=flow.id,
            flow_revision=flow.revision,
            inputs=inputs,
            trigger=ExecutionTrigger(
                id=trigger.id, type=trigger.type, variables=_trigger_vars(upstream)
            ),
        )
        labels = {k: v for k, v in (flow.labels or {}).items() if not k.startswith("system.")}
        labels.update(trigger.labels or {})
        labels["system.correlationId"] = execution.id
        execution.labels = [Label(key=k, value=str(v)) for k, v in labels.items()]
        created.append(execution)
    return created
