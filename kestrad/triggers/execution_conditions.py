"""Conditions on an execution (listeners, flow triggers): ExecutionStatus, ExecutionFlow, …

Conditions arrive as validated mappings with a canonical `type`; each kind is one small
function, and an unknown kind is an error rather than a silent match.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kestrad.model.execution import Execution

_PREFIXES = (
    "io.kestra.plugin.core.condition.",
    "io.kestra.core.models.conditions.types.",
)


class ConditionError(Exception):
    """A condition that cannot be evaluated (unknown type, bad property)."""


def short_type(type_name: str) -> str:
    """`io.kestra.plugin.core.condition.ExecutionStatusCondition` → `ExecutionStatus`."""
    for prefix in _PREFIXES:
        if type_name.startswith(prefix):
            type_name = type_name[len(prefix) :]
    return type_name.removesuffix("Condition")


def _status(c: Mapping[str, Any], e: Execution, state: str) -> bool:
    allowed = c.get("in")
    denied = c.get("notIn")
    return (not allowed or state in allowed) and (not denied or state not in denied)


def _flow(c: Mapping[str, Any], e: Execution, state: str) -> bool:
    return e.namespace == c.get("namespace") and e.flow_id == c.get("flowId")


def _namespace(c: Mapping[str, Any], e: Execution, state: str) -> bool:
    expected = str(c.get("namespace", ""))
    comparison = c.get("comparison") or ("PREFIX" if c.get("prefix") else "EQUALS")
    if comparison == "PREFIX":
        return e.namespace.startswith(expected)
    if comparison == "SUFFIX":
        return e.namespace.endswith(expected)
    return e.namespace == expected


def _labels(c: Mapping[str, Any], e: Execution, state: str) -> bool:
    wanted = c.get("labels") or {}
    if isinstance(wanted, list):
        wanted = {item["key"]: item["value"] for item in wanted}
    have = e.label_map()
    return all(have.get(str(k)) == str(v) for k, v in wanted.items())


EXECUTION_CONDITIONS: dict[str, Callable[[Mapping[str, Any], Execution, str], bool]] = {
    "ExecutionStatus": _status,
    "ExecutionFlow": _flow,
    "Flow": _flow,
    "ExecutionNamespace": _namespace,
    "FlowNamespace": _namespace,
    "ExecutionLabels": _labels,
}


def evaluate(
    condition: Any,
    execution: Execution,
    state: str,
    dated: Callable[[Mapping[str, Any]], bool] | None = None,
) -> bool:
    """One condition on an execution; `dated` answers the others (Expression, DayWeek,
    TimeBetween, …), which need a rendering context the caller builds only when asked."""
    data = condition if isinstance(condition, Mapping) else _as_mapping(condition)
    kind = short_type(str(data.get("type", "")))
    if kind in ("Not", "Or"):
        subs = (evaluate(sub, execution, state, dated) for sub in data.get("conditions") or [])
        return not any(subs) if kind == "Not" else any(subs)
    check = EXECUTION_CONDITIONS.get(kind)
    if check is not None:
        return check(data, execution, state)
    if dated is None:
        raise ConditionError(
            f"condition type `{data.get('type')}` cannot be evaluated on an execution"
        )
    return dated(data)


def execution_matches(
    conditions: list[Any],
    execution: Execution,
    state: str | None,
    dated: Callable[[Mapping[str, Any]], bool] | None = None,
) -> bool:
    """True when every condition holds for `execution` ending in `state`."""
    final = state or execution.state.current
    return all(evaluate(c, execution, final, dated) for c in conditions)


def _as_mapping(condition: Any) -> Mapping[str, Any]:
    import msgspec

    data = msgspec.to_builtins(condition)
    if not isinstance(data, Mapping):
        raise ConditionError(f"not a condition: {condition!r}")
    return data
