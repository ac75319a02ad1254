"""Schedule conditions on `trigger.date`."""

from __future__ import annotations

import pytest

from kestrad.expr.engine import Renderer
from kestrad.triggers.evaluate import conditions_hold
from kestrad.triggers.execution_conditions import ConditionError

P = "io.kestra.plugin.core.condition."
# Saturday 2024-05-25 (the last Saturday of May), 14:30 in Berlin.
CONTEXT = {"trigger": {"date": "2024-05-25T14:30:00+02:00"}}


def holds(*conditions: dict) -> bool:
    return conditions_hold(list(conditions), CONTEXT, Renderer())


def test_day_conditions() -> None:
    assert holds({"type": P + "DayWeek", "dayOfWeek": "SATURDAY"})
    assert not holds({"type": P + "DayWeek", "dayOfWeek": "MONDAY"})
    assert holds({"type": P + "Weekend"})
    assert holds({"type": P + "DayWeekInMonth", "dayOfWeek": "SATURDAY", "dayInMonth": "LAST"})
    assert holds({"type": P + "DayWeekInMonth", "dayOfWeek": "SATURDAY", "dayInMonth": "FOURTH"})
    assert not holds({"type": P + "DayWeekInMonth", "dayOfWeek": "SATURDAY", "dayInMonth": "FIRST"})


def test_time_and_date_ranges() -> None:
    assert holds({"type": P + "TimeBetween", "after": "14:00:00", "before": "15:00:00"})
    assert not holds({"type": P + "TimeBetween", "after": "13:00:00Z", "before": "12:00:00Z"})
    assert holds({"type": P + "TimeBetween", "after": "12:00:00Z", "before": "13:00:00Z"})
    assert holds(
        {
            "type": P + "DateTimeBetween",
            "after": "2024-05-01T00:00:00Z",
            "before": "2024-06-01T00:00:00Z",
        }
    )
    assert not holds({"type": P + "DateTimeBetween", "after": "2024-06-01T00:00:00Z"})


def test_expression_not_or() -> None:
    weekday = {"type": P + "DayWeek", "dayOfWeek": "MONDAY"}
    assert holds({"type": P + "Not", "conditions": [weekday]})
    assert holds({"type": P + "Or", "conditions": [weekday, {"type": P + "Weekend"}]})
    assert holds({"type": P + "Expression", "expression": "{{ trigger.date is defined }}"})


def test_unusable_conditions_raise() -> None:
    with pytest.raises(ConditionError):
        holds({"type": P + "PublicHoliday", "country": "FR"})
    with pytest.raises(ConditionError):
        holds({"type": P + "DayWeek", "dayOfWeek": "FUNDAY"})
