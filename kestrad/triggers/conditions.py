"""Known condition types (KESTRA-SPEC §3.5) and their legacy names.

Conditions stay plain mappings for now; what the loader guarantees is that each one has a
known `type`, rewritten to its current name, so evaluators can dispatch on one spelling.
"""

from __future__ import annotations

_PREFIX = "io.kestra.plugin.core.condition."
_LEGACY_PREFIX = "io.kestra.core.models.conditions.types."

# Current simple names. Names that already end in "Condition" keep it.
_NAMES = (
    "DateTimeBetween",
    "DayWeek",
    "DayWeekInMonth",
    "ExecutionFlow",
    "ExecutionLabels",
    "ExecutionNamespace",
    "ExecutionOutputs",
    "ExecutionStatus",
    "Expression",
    "FlowCondition",
    "FlowNamespaceCondition",
    "HasRetryAttempt",
    "MultipleCondition",
    "Not",
    "Or",
    "PublicHoliday",
    "TimeBetween",
    "Weekend",
)

CONDITION_TYPES: frozenset[str] = frozenset(_PREFIX + name for name in _NAMES)

MULTIPLE_CONDITION = _PREFIX + "MultipleCondition"
# Conditions whose `conditions` property holds nested conditions: a list, or a name → map.
NESTED_LIST = frozenset({_PREFIX + "Not", _PREFIX + "Or"})
NESTED_MAP = frozenset({MULTIPLE_CONDITION})


def _aliases() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in _NAMES:
        current = _PREFIX + name
        legacy = name if name.endswith("Condition") else name + "Condition"
        out[_PREFIX + legacy] = current
        out[_LEGACY_PREFIX + legacy] = current
    out[_LEGACY_PREFIX + "VariableCondition"] = _PREFIX + "Expression"
    out[_PREFIX + "VariableCondition"] = _PREFIX + "Expression"
    out.pop(_PREFIX + "MultipleCondition", None)
    out.pop(_PREFIX + "FlowCondition", None)
    out.pop(_PREFIX + "FlowNamespaceCondition", None)
    return out


CONDITION_ALIASES: dict[str, str] = _aliases()


def canonical_condition_type(type_name: str) -> str | None:
    """The current name of a condition type, or None when it is not a known condition."""
    if type_name in CONDITION_TYPES:
        return type_name
    return CONDITION_ALIASES.get(type_name)
