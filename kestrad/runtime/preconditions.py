"""Flow-trigger `preconditions` and `MultipleCondition`: named conditions met inside a window.

Upstream executions end one at a time, so "flow A and flow B both succeeded today" needs
memory: a window row per multiple condition, holding which named conditions some ended
execution already satisfied. The rows are read and written inside the executor's batch
transaction (through the BatchView and `ExecutorOutcome.trigger_windows`), so two
upstream executions ending together, in one batch or in two daemons, cannot both miss
each other, and a crash never keeps half a window. Before it reads, the batch declares
the windows it may touch (`window_keys`, decided on namespaces and flow ids only) so a
store shared by several daemons locks those, and reads only those.

Everything here is pure: no I/O, the instant comes in as `now` (epoch seconds, UTC).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import msgspec

from kestrad.expr.engine import truthy
from kestrad.model.durations import parse_duration
from kestrad.model.execution import Execution
from kestrad.store.base import BatchView, TriggerWindow, WindowKey
from kestrad.triggers.execution_conditions import (
    EXECUTION_CONDITIONS,
    ConditionError,
    evaluate,
    short_type,
)
from kestrad.triggers.flow import Filter, Preconditions, TimeWindow, UpstreamFlow, Where

DAY = 86_400.0
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?$")


class Upstream:
    """The ended execution the conditions look at; its run variables are built lazily
    (only an expression needs them, and building them walks the task runs)."""

    def __init__(
        self,
        execution: Execution,
        state: str,
        renderer: Any,
        variables: Callable[[], Mapping[str, Any]],
    ) -> None:
        self.execution = execution
        self.state = state
        self.renderer = renderer
        self._variables = variables

    def render(self, source: str, typed: bool = False) -> Any:
        if self.renderer is None:
            raise ConditionError("expressions cannot be evaluated here")
        context = self._variables()
        return (
            self.renderer.render_typed(source, context)
            if typed
            else self.renderer.render(source, context)
        )


# A named condition: the upstream execution → satisfied?
Check = Callable[[Upstream], bool]
# Could an execution of (namespace, flow id) satisfy it? Decided without the execution, so
# True whenever unsure (its state, labels, outputs and expressions are not known yet).
Reach = Callable[[str, str], bool]


def _anyone(namespace: str, flow_id: str) -> bool:
    return True


@dataclass(frozen=True)
class Multiple:
    """One windowed condition of a trigger: its `preconditions` or a MultipleCondition."""

    condition_id: str
    checks: dict[str, Check]
    window: TimeWindow
    reset_on_success: bool
    reaches: Reach = _anyone


def multiples_of(trigger: Any) -> list[Multiple]:
    """The windowed conditions of a Flow trigger, in declaration order."""
    out: list[Multiple] = []
    for index, condition in enumerate(trigger.conditions or ()):
        if is_multiple(condition):
            out.append(_from_multiple_condition(condition, index))
    if trigger.preconditions is not None:
        out.append(_from_preconditions(trigger.preconditions))
    return out


def is_multiple(condition: Any) -> bool:
    return isinstance(condition, Mapping) and short_type(str(condition.get("type", ""))) in (
        "Multiple",
        "MultipleCondition",
    )


def _from_multiple_condition(condition: Mapping[str, Any], index: int) -> Multiple:
    if condition.get("timeWindow") is not None:
        window = msgspec.convert(condition["timeWindow"], TimeWindow, from_attributes=True)
    else:
        window = TimeWindow(
            window=condition.get("window"), window_advance=condition.get("windowAdvance")
        )
    named = condition.get("conditions") or {}
    if not isinstance(named, Mapping) or not named:
        raise ConditionError("a MultipleCondition needs a map of named `conditions`")
    reaches = [_named_reach(sub) for sub in named.values()]
    return Multiple(
        condition_id=str(condition.get("id") or f"multiple-{index}"),
        checks={str(name): _named(sub) for name, sub in named.items()},
        window=window,
        reset_on_success=condition.get("resetOnSuccess", True) is not False,
        reaches=lambda namespace, flow_id: any(r(namespace, flow_id) for r in reaches),
    )


def _from_preconditions(pre: Preconditions) -> Multiple:
    """Kestra names them `condition_<n>` (flows) and `condition_<n>_<where id>`."""
    checks: dict[str, Check] = {}
    reaches: list[Reach] = []
    number = 0
    for upstream in pre.flows or ():
        number += 1
        checks[f"condition_{number}"] = _upstream_check(upstream)
        reaches.append(_upstream_reach(upstream))
    for where in pre.where or ():
        number += 1
        checks[f"condition_{number}_{where.id}"] = _where_check(where)
        reaches.append(_where_reach(where))
    return Multiple(
        condition_id=pre.id or "preconditions",
        checks=checks,
        window=pre.time_window or TimeWindow(),
        reset_on_success=pre.reset_on_success,
        reaches=lambda namespace, flow_id: any(r(namespace, flow_id) for r in reaches),
    )


def _named(condition: Any) -> Check:
    """A named condition of a MultipleCondition: an execution condition or an Expression."""
    if isinstance(condition, Mapping) and short_type(str(condition.get("type", ""))) in (
        "Expression",
        "Variable",
    ):
        source = condition.get("expression")

        def expression(up: Upstream) -> bool:
            return truthy(up.render(str(source), typed=True))

        return expression
    return lambda up: evaluate(condition, up.execution, up.state)


class _Flow(NamedTuple):
    """What the static reach of a condition may look at: an execution's flow."""

    namespace: str
    flow_id: str


_BY_FLOW = ("ExecutionFlow", "Flow", "ExecutionNamespace", "FlowNamespace")


def _named_reach(condition: Any) -> Reach:
    """Flow and namespace conditions are decided on the flow; any other may match."""
    kind = short_type(str(condition.get("type", ""))) if isinstance(condition, Mapping) else ""
    if kind not in _BY_FLOW:
        return _anyone
    test = EXECUTION_CONDITIONS[kind]
    return lambda namespace, flow_id: test(
        condition, cast(Execution, _Flow(namespace, flow_id)), ""
    )


def _upstream_reach(upstream: UpstreamFlow) -> Reach:
    def reach(namespace: str, flow_id: str) -> bool:
        return namespace == upstream.namespace and upstream.flow_id in (None, flow_id)

    return reach


def _where_reach(where: Where) -> Reach:
    """Its FLOW_ID and NAMESPACE filters decide; the others (state, expressions) may match."""

    def reach(namespace: str, flow_id: str) -> bool:
        known = [
            _compare(f, flow_id if f.field == "FLOW_ID" else namespace)
            for f in where.filters
            if f.field in ("FLOW_ID", "NAMESPACE")
        ]
        if where.operand == "OR":
            return len(known) < len(where.filters) or any(known)
        return all(known)

    def safe(namespace: str, flow_id: str) -> bool:
        try:
            return reach(namespace, flow_id)
        except re.error:
            return True

    return safe


def _upstream_check(upstream: UpstreamFlow) -> Check:
    wanted = {k: str(v) for k, v in (upstream.labels or {}).items()}

    def check(up: Upstream) -> bool:
        e, state = up.execution, up.state
        if e.namespace != upstream.namespace:
            return False
        if upstream.flow_id is not None and e.flow_id != upstream.flow_id:
            return False
        if upstream.states is not None and state not in upstream.states:
            return False
        have = e.label_map()
        return all(have.get(k) == v for k, v in wanted.items())

    return check


def _where_check(where: Where) -> Check:
    def check(up: Upstream) -> bool:
        results = (_filter(f, up) for f in where.filters)
        return any(results) if where.operand == "OR" else all(results)

    return check


def _filter(f: Filter, up: Upstream) -> bool:
    value: str | None
    if f.field == "FLOW_ID":
        value = up.execution.flow_id
    elif f.field == "NAMESPACE":
        value = up.execution.namespace
    elif f.field == "STATE":
        value = up.state
    else:
        value = up.render(f.value or "")
    return _compare(f, value)


def _compare(f: Filter, value: str | None) -> bool:
    kind = f.type
    if kind == "IS_NULL":
        return value is None
    if kind == "IS_NOT_NULL":
        return value is not None
    if kind == "IS_TRUE":
        return truthy(value)
    if kind == "IS_FALSE":
        return not truthy(value)
    if kind == "IN":
        return value in (f.values or ())
    if kind == "NOT_IN":
        return value not in (f.values or ())
    if kind == "EQUAL_TO":
        return value == f.value
    if kind == "NOT_EQUAL_TO":
        return value != f.value
    if value is None or f.value is None:
        return False
    if kind == "STARTS_WITH":
        return value.startswith(f.value)
    if kind == "ENDS_WITH":
        return value.endswith(f.value)
    if kind == "REGEX":
        return re.fullmatch(f.value, value) is not None  # Java's String.matches
    return f.value in value  # CONTAINS


# -- windows -------------------------------------------------------------------------------------
def _seconds(duration: str | None, default: float) -> float:
    return parse_duration(duration).total_seconds() if duration else default


def _time_of_day(text: str | None, name: str) -> float:
    match = _TIME.match(str(text or "").strip())
    if not match:
        raise ConditionError(f"timeWindow `{name}` must be a time of day (HH:MM[:SS]): {text!r}")
    hour, minute, second = match.groups()
    return int(hour) * 3600 + int(minute) * 60 + int(second or 0)


def bounds(window: TimeWindow, now: float) -> tuple[float, float] | None:
    """[start, end) of the window that holds `now`; None when `now` is outside every
    window of that kind (before a daily start time, after a daily deadline).

    Duration windows are aligned on multiples of their length from midnight UTC, shifted
    by `windowAdvance` (P1D = each UTC day; PT6H + PT6H advance = 06-12, 12-18, …), as
    Kestra documents them. A sliding window is the last `window` up to now.
    """
    kind = window.type
    if kind == "SLIDING_WINDOW":
        length = _seconds(window.window, DAY)
        return now - length, now
    if kind == "DAILY_TIME_DEADLINE":
        day = math.floor(now / DAY) * DAY
        end = day + _time_of_day(window.deadline, "deadline")
        return (day, end) if now < end else None
    if kind == "DAILY_TIME_WINDOW":
        day = math.floor(now / DAY) * DAY
        start = day + _time_of_day(window.start_time, "startTime")
        end = day + _time_of_day(window.end_time, "endTime")
        return (start, end) if start <= now < end else None
    length = _seconds(window.window, DAY)
    if length <= 0:
        raise ConditionError(f"timeWindow `window` must be positive: {window.window!r}")
    advance = _seconds(window.window_advance, 0.0)
    start = math.floor((now - advance) / length) * length + advance
    return start, start + length


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


def window_keys(flow: Any, trigger: Any, upstreams: Iterable[tuple[str, str]]) -> list[WindowKey]:
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


def _fresh(flow: Any, trigger: Any, multiple: Multiple, span: tuple[float, float]) -> TriggerWindow:
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
    flow: Any,
    trigger: Any,
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
