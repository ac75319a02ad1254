"""Flow triggers (`io.kestra.plugin.core.trigger.Flow`): executions that start when others end.

The runtime half of the Flow kind (`triggers/flow.py` holds its schema, its checks on one
ended execution and the execution it builds; `triggers/preconditions.py` its windowed
conditions). Evaluated by the executor for each ended execution, against the in-memory
list of flows that declare a Flow trigger (never all flows). A flow never triggers itself.

Windowed conditions (`preconditions`, MultipleCondition) keep their state in the window
table: the rows are read and written inside the executor's batch transaction (through
the BatchView and `ExecutorOutcome.trigger_windows`), so two upstream executions ending
together, in one batch or in two daemons, cannot both miss each other, and a crash never
keeps half a window. Before it reads, the batch declares the windows it may touch
(`window_keys`, decided on namespaces and flow ids only) so a store shared by several
daemons locks those, and reads only those.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

from kestrad.expr.engine import ExpressionError, Renderer
from kestrad.model.execution import Execution
from kestrad.model.flow import Flow
from kestrad.runtime.variables import ExecutionIndex, base_variables, run_variables
from kestrad.store.base import BatchView, TriggerWindow, WindowKey
from kestrad.triggers.base import Trigger
from kestrad.triggers.evaluate import evaluate as evaluate_dated
from kestrad.triggers.execution_conditions import ConditionError
from kestrad.triggers.flow import FLOW, trigger_variables
from kestrad.triggers.kind import Rendering
from kestrad.triggers.preconditions import Multiple, Upstream, bounds, multiples_of

log = logging.getLogger("kestrad.flow_triggers")


def triggered_executions(
    upstream: Execution,
    upstream_flow: Flow,
    candidates: list[tuple[Any, Any]],
    renderer: Renderer,
    *,
    secret_key: str | None = None,
    windows: WindowBook | None = None,
    now: float | None = None,
    state: str | None = None,
) -> list[Execution]:
    """Executions to create because `upstream` ended, or passed through `state` (RUNNING,
    PAUSED, QUEUED… fire only the triggers that list it, as in Kestra 1.x's
    FlowTriggerCaseTest#triggerWithPause): one per matching (flow, trigger).

    Triggers with `preconditions` or a MultipleCondition need `windows` (the batch's view
    of the window table); without it they are skipped. `now` is the instant the windows
    are taken at (epoch seconds, default the current time).
    """
    if state is not None and state != upstream.state.current:
        # As it was then: `trigger.state` and the conditions see that state.
        then = msgspec.structs.replace(upstream.state, current=state)
        upstream = msgspec.structs.replace(upstream, state=then)
    state = upstream.state.current
    created: list[Execution] = []
    cache: dict[str, Any] = {}
    rendering = Rendering(renderer, secret_key)

    def variables() -> dict[str, Any]:
        if "v" not in cache:
            found = run_variables(
                base_variables(upstream, upstream_flow), ExecutionIndex(upstream), None, None
            )
            found["trigger"] = {**trigger_variables(upstream), "outputs": upstream.outputs}
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
        if not FLOW.listens_to(trigger, state):
            continue
        try:
            multiples = multiples_of(trigger)
            if not FLOW.matches(trigger, upstream, state, dated):
                continue
            outputs = upstream.outputs
            if multiples:
                if windows is None:
                    continue
                if not any(m.reaches(upstream.namespace, upstream.flow_id) for m in multiples):
                    # No window can count this execution: read none (the batch declared
                    # exactly the windows an ended flow can reach, see window_keys).
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
        try:
            execution = FLOW.triggered(flow, trigger, upstream, outputs, variables(), rendering)
        except ExpressionError as exc:
            log.warning(
                "flow trigger %s/%s.%s: inputs not rendered: %s",
                flow.namespace,
                flow.id,
                trigger.id,
                exc,
            )
            continue
        created.append(execution)
    return created


# -- windows -------------------------------------------------------------------------------------
class WindowBook:
    """Windows of one executor batch: reads through the BatchView, writes kept in `pending`
    (the outcome's `trigger_windows`, written with the batch; None = delete)."""

    def __init__(self, view: BatchView, pending: dict[WindowKey, TriggerWindow | None]) -> None:
        self.view = view
        self.pending = pending

    def get(self, key: WindowKey) -> TriggerWindow | None:
        if key in self.pending:
            return self.pending[key]
        return self.view.trigger_window(*key)

    def put(self, window: TriggerWindow) -> None:
        self.pending[window.key] = window

    def delete(self, key: WindowKey) -> None:
        self.pending[key] = None


def window_keys(
    flow: Flow, trigger: Trigger, upstreams: Iterable[tuple[str, str]]
) -> list[WindowKey]:
    """The windows of one Flow trigger that an execution of one of `upstreams` (namespace,
    flow id) may read or write by ending: all of the trigger's windows as soon as one of
    its windowed conditions may match one of those flows (a fire reads and resets them
    all), else none. A superset (decided on the flows only), never missing one."""
    try:
        multiples = multiples_of(trigger)
    except (ConditionError, ValueError):
        return []  # triggered_executions skips this trigger too
    others = [u for u in upstreams if u != (flow.namespace, flow.id)]  # never itself
    if not any(m.reaches(*upstream) for m in multiples for upstream in others):
        return []
    return [(flow.namespace, flow.id, trigger.id, m.condition_id) for m in multiples]


def _fresh(
    flow: Flow, trigger: Trigger, multiple: Multiple, span: tuple[float, float]
) -> TriggerWindow:
    return TriggerWindow(
        namespace=flow.namespace,
        flow_id=flow.id,
        trigger_id=trigger.id,
        condition_id=multiple.condition_id,
        start=span[0],
        end=span[1],
    )


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


class Verdict(msgspec.Struct, kw_only=True):
    """What the windows say for one upstream execution and one trigger."""

    fire: bool
    outputs: dict[str, Any] | None = None


def evaluate_windows(
    flow: Flow,
    trigger: Trigger,
    multiples: list[Multiple],
    upstream: Upstream,
    book: WindowBook,
    now: float,
) -> Verdict:
    """Record what `upstream` satisfies in each window; fire when every window is complete.

    A window only fires on an execution that satisfied one of its conditions, so with
    `resetOnSuccess: false` each further match inside the window fires again, and an
    unrelated execution never does. A fired window is reset when `resetOnSuccess` is true.
    Raises ConditionError when a condition cannot be evaluated.
    """
    complete = True
    matched_any = False
    produced = upstream.execution.outputs or {}
    outputs: dict[str, Any] = dict(produced)
    touched: list[tuple[Multiple, TriggerWindow]] = []
    for multiple in multiples:
        span = bounds(multiple.window, now)
        if span is None:
            return Verdict(fire=False)  # outside the daily window: nothing counts
        key = (flow.namespace, flow.id, trigger.id, multiple.condition_id)
        window = book.get(key)
        sliding = multiple.window.type == "SLIDING_WINDOW"
        if window is None or (not sliding and (window.start != span[0] or now >= window.end)):
            window = _fresh(flow, trigger, multiple, span)
        if sliding:
            window.results = {k: t for k, t in window.results.items() if t >= span[0]}
        matched = [name for name, check in multiple.checks.items() if check(upstream)]
        if matched:
            matched_any = True
            results = {**window.results, **dict.fromkeys(matched, now)}
            window = msgspec.structs.replace(window, results=results)
            if produced:
                window.outputs = _deep_merge(window.outputs or {}, produced)
            if sliding:  # kept while its newest result is inside some later window
                window.start = span[0]
                window.end = max(results.values()) + (span[1] - span[0])
            book.put(window)
        if window.outputs:
            outputs = _deep_merge(outputs, window.outputs)
        if not all(name in window.results for name in multiple.checks):
            complete = False
        touched.append((multiple, window))
    if not (complete and matched_any):
        return Verdict(fire=False)
    for multiple, window in touched:
        if multiple.reset_on_success:
            book.delete(window.key)
    return Verdict(fire=True, outputs=outputs)
