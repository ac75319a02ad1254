"""Schedule conditions (KESTRA-SPEC §3.5) evaluated on a fire date, in the scheduler.

Each condition looks at `date` (default `{{ trigger.date }}`), rendered against the
trigger's context, so a condition can also be pointed at another date. A condition that
cannot be evaluated (unknown kind, bad property) raises ConditionError: the scheduler
then creates one FAILED execution for that fire time that says why, instead of silently
skipping or retrying every second.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, time, timedelta, timezone
from typing import Any

from kestrad.expr.engine import truthy
from kestrad.triggers.execution_conditions import ConditionError, short_type

_DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
_NTH = {"FIRST": 0, "SECOND": 1, "THIRD": 2, "FOURTH": 3}
_OFFSET_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")

Check = Callable[[Mapping[str, Any], Mapping[str, Any], Any], bool]


def conditions_hold(
    conditions: list[Any] | None, context: Mapping[str, Any], renderer: Any
) -> bool:
    """True when every condition holds (Kestra: a trigger fires only if all are true)."""
    return all(evaluate(c, context, renderer) for c in conditions or ())


def evaluate(condition: Any, context: Mapping[str, Any], renderer: Any) -> bool:
    if not isinstance(condition, Mapping):
        raise ConditionError(f"not a condition: {condition!r}")
    kind = short_type(str(condition.get("type", "")))
    check = SCHEDULE_CONDITIONS.get(kind)
    if check is None:
        raise ConditionError(
            f"condition type `{condition.get('type')}` cannot be evaluated on a schedule"
        )
    return check(condition, context, renderer)


def _date(c: Mapping[str, Any], context: Mapping[str, Any], renderer: Any) -> datetime:
    source = c.get("date") or "{{ trigger.date }}"
    value = renderer.render_typed(source, context) if isinstance(source, str) else source
    if isinstance(value, datetime):
        return value
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConditionError(f"`date` is not an ISO-8601 date-time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _day(name: Any) -> int:
    text = str(name or "").upper()
    if text not in _DAYS:
        raise ConditionError(f"`dayOfWeek` must be one of {', '.join(_DAYS)}, not {name!r}")
    return _DAYS.index(text)


def _day_week(c: Mapping[str, Any], context: Mapping[str, Any], renderer: Any) -> bool:
    return _date(c, context, renderer).weekday() == _day(c.get("dayOfWeek"))


def _day_week_in_month(c: Mapping[str, Any], context: Mapping[str, Any], renderer: Any) -> bool:
    when = _date(c, context, renderer)
    if when.weekday() != _day(c.get("dayOfWeek")):
        return False
    which = str(c.get("dayInMonth") or "").upper()
    if which == "LAST":
        return (when + timedelta(days=7)).month != when.month
    if which not in _NTH:
        raise ConditionError(
            f"`dayInMonth` must be FIRST, SECOND, THIRD, FOURTH or LAST, not {which!r}"
        )
    return (when.day - 1) // 7 == _NTH[which]


def _weekend(c: Mapping[str, Any], context: Mapping[str, Any], renderer: Any) -> bool:
    return _date(c, context, renderer).weekday() >= 5


def _offset_time(text: Any, name: str) -> tuple[time, timezone | None]:
    match = _OFFSET_TIME.match(str(text).strip())
    if not match:
        raise ConditionError(f"`{name}` is not a time (HH:MM[:SS][offset]): {text!r}")
    hour, minute, second, offset = match.groups()
    zone = None
    if offset:
        if offset == "Z":
            zone = UTC
        else:
            sign = -1 if offset[0] == "-" else 1
            digits = offset[1:].replace(":", "")
            zone = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    return time(int(hour), int(minute), int(second or 0)), zone


def _time_between(c: Mapping[str, Any], context: Mapping[str, Any], renderer: Any) -> bool:
    when = _date(c, context, renderer)
    for name, after in (("after", True), ("before", False)):
        if c.get(name) is None:
            continue
        bound, zone = _offset_time(c[name], name)
        local = (when.astimezone(zone) if zone else when).time().replace(tzinfo=None)
        if (after and local < bound) or (not after and local > bound):
            return False
    return True


def _date_time_between(c: Mapping[str, Any], context: Mapping[str, Any], renderer: Any) -> bool:
    when = _date(c, context, renderer)
    for name, after in (("after", True), ("before", False)):
        if c.get(name) is None:
            continue
        bound = _date({"date": c[name]}, context, renderer)
        if (after and when < bound) or (not after and when > bound):
            return False
    return True


def _expression(c: Mapping[str, Any], context: Mapping[str, Any], renderer: Any) -> bool:
    source = c.get("expression")
    if not isinstance(source, str):
        raise ConditionError("`expression` must be a string")
    return truthy(renderer.render_typed(source, context))


def _not(c: Mapping[str, Any], context: Mapping[str, Any], renderer: Any) -> bool:
    return not any(evaluate(sub, context, renderer) for sub in c.get("conditions") or ())


def _or(c: Mapping[str, Any], context: Mapping[str, Any], renderer: Any) -> bool:
    return any(evaluate(sub, context, renderer) for sub in c.get("conditions") or ())


SCHEDULE_CONDITIONS: dict[str, Check] = {
    "DayWeek": _day_week,
    "DayWeekInMonth": _day_week_in_month,
    "Weekend": _weekend,
    "TimeBetween": _time_between,
    "DateTimeBetween": _date_time_between,
    "Expression": _expression,
    "Variable": _expression,
    "Not": _not,
    "Or": _or,
}

__all__ = ["SCHEDULE_CONDITIONS", "ConditionError", "conditions_hold", "evaluate"]
