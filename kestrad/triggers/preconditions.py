"""Flow-trigger `preconditions` and `MultipleCondition`: named conditions met inside a window.

Upstream executions end one at a time, so "flow A and flow B both succeeded today" needs
memory: a window per multiple condition, holding which named conditions some ended
execution already satisfied. This module compiles a trigger's windowed conditions
(`multiples_of`) into named checks on one ended execution, each with a static `reach`
(could an execution of this flow satisfy it at all?), and computes the window that holds
an instant (`bounds`). Keeping the windows themselves — read and written inside the
executor's batch transaction — is the runtime's part (`runtime/flow_triggers.py`).

Everything here is pure: no I/O, the instant comes in as `now` (epoch seconds, UTC).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import msgspec

from kestrad.expr.engine import truthy
from kestrad.model.durations import parse_duration
from kestrad.model.execution import Execution
from kestrad.triggers.base import Trigger
from kestrad.triggers.execution_conditions import (
    EXECUTION_CONDITIONS,
    ConditionError,
    evaluate,
    short_type,
)
from kestrad.triggers.flow import (
    Filter,
    Preconditions,
    TimeWindow,
    UpstreamFlow,
    Where,
    is_multiple,
)

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


def multiples_of(trigger: Trigger) -> list[Multiple]:
    """The windowed conditions of a Flow trigger, in declaration order."""
    out: list[Multiple] = []
    for index, condition in enumerate(trigger.conditions or ()):
        if is_multiple(condition):
            out.append(_from_multiple_condition(condition, index))
    if trigger.preconditions is not None:
        out.append(_from_preconditions(trigger.preconditions))
    return out


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
