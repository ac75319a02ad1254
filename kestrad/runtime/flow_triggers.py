"""Flow triggers (`io.kestra.plugin.core.trigger.Flow`): executions that start when others end.

Evaluated by the executor for each ended execution, against the in-memory list of flows
that declare a Flow trigger (never all flows). A flow never triggers itself. Windowed
conditions (`preconditions`, MultipleCondition) keep their state in the window table
through `preconditions.WindowBook`, inside the executor's batch transaction.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from kestrad.expr.engine import ExpressionError, Renderer
from kestrad.model.execution import Execution, ExecutionTrigger, Label
from kestrad.model.inputs import InputsInvalid, input_defaults, resolve_inputs
from kestrad.model.state import TERMINATED
from kestrad.runtime.preconditions import (
    Upstream,
    WindowBook,
    evaluate_windows,
    is_multiple,
    multiples_of,
)
from kestrad.runtime.variables import ExecutionIndex, base_variables, run_variables
from kestrad.triggers.evaluate import evaluate as evaluate_dated
from kestrad.triggers.execution_conditions import ConditionError, execution_matches

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
    windows: WindowBook | None = None,
    now: float | None = None,
) -> list[Execution]:
    """Executions to create because `upstream` ended: one per matching (flow, trigger).

    Triggers with `preconditions` or a MultipleCondition need `windows` (the batch's view
    of the window table); without it they are skipped. `now` is the instant the windows
    are taken at (epoch seconds, default the current time).
    """
    state = upstream.state.current
    created: list[Execution] = []
    cache: dict[str, Any] = {}

    def variables() -> dict[str, Any]:
        if "v" not in cache:
            found = run_variables(
                base_variables(upstream, upstream_flow), ExecutionIndex(upstream), None, None
            )
            found["trigger"] = {**_trigger_vars(upstream), "outputs": upstream.outputs}
            cache["v"] = found
        return cache["v"]

    def dated(condition: Any) -> bool:
        """Expression and date conditions, against the upstream execution's variables
        with `trigger.date` = now (the moment the flow trigger is evaluated)."""

        context = dict(variables())
        moment = time.time() if now is None else now
        date = datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")
        context["trigger"] = {**context["trigger"], "date": date}
        return evaluate_dated(condition, context, renderer)

    for flow, trigger in candidates:
        if (flow.namespace, flow.id) == (upstream.namespace, upstream.flow_id):
            continue  # a flow never triggers itself
        if trigger.disabled or getattr(flow, "disabled", False):
            continue
        states = trigger.states or sorted(TERMINATED)
        if state not in states:
            continue
        try:
            multiples = multiples_of(trigger)
            simple = [c for c in trigger.conditions or [] if not is_multiple(c)]
            if not execution_matches(simple, upstream, state, dated):
                continue
            outputs = upstream.outputs
            if multiples:
                if windows is None:
                    continue
                verdict = evaluate_windows(
                    flow,
                    trigger,
                    multiples,
                    Upstream(upstream, state, renderer, variables),
                    windows,
                    time.time() if now is None else now,
                )
                if not verdict.fire:
                    continue
                outputs = verdict.outputs or {}
        except (ConditionError, ExpressionError, ValueError) as exc:  # ValueError: bad window
            log.warning("flow trigger %s/%s.%s: %s", flow.namespace, flow.id, trigger.id, exc)
            continue
        execution = _build(flow, trigger, upstream, outputs, variables(), renderer, secret_key)
        if execution is not None:
            created.append(execution)
    return created


def _build(
    flow: Any,
    trigger: Any,
    upstream: Execution,
    outputs: dict[str, Any],
    variables: dict[str, Any],
    renderer: Renderer,
    secret_key: str | None,
) -> Execution | None:
    """The triggered execution; None (and a warning) when its inputs cannot be rendered."""

    context = variables
    if outputs is not upstream.outputs:
        context = {**variables, "trigger": {**variables["trigger"], "outputs": outputs}}
    try:
        rendered = renderer.render_value(trigger.inputs or {}, context)
    except ExpressionError as exc:
        log.warning(
            "flow trigger %s/%s.%s: inputs not rendered: %s",
            flow.namespace,
            flow.id,
            trigger.id,
            exc,
        )
        return None
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
    return execution
