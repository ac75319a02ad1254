"""`io.kestra.plugin.core.trigger.ScheduleOnDates`: fires once on each of a list of dates.

Dates without an offset are in the trigger's `timezone` (the system zone by default);
after the last one the trigger never fires again (its next fire time is `NEVER`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from kestrad.triggers.base import Trigger
from kestrad.triggers.checks import timezone_problems
from kestrad.triggers.fire_times import DatesPlan, FirePlan
from kestrad.triggers.kind import Problem, Recovery
from kestrad.triggers.registry import register_kind
from kestrad.triggers.timed import TimedKind


class ScheduleOnDates(Trigger, kw_only=True):
    """Fires once on each of a fixed list of dates."""

    dates: list[str]
    timezone: str | None = None
    recover_missed_schedules: Recovery | None = None


class ScheduleOnDatesKind(TimedKind):
    type_name: ClassVar[str] = "io.kestra.plugin.core.trigger.ScheduleOnDates"
    schema: ClassVar[type[Trigger]] = ScheduleOnDates

    def validate(self, raw: Mapping[str, Any]) -> list[Problem]:
        problems = timezone_problems(raw)
        dates = raw.get("dates")
        if isinstance(dates, list):
            for i, value in enumerate(dates):
                if isinstance(value, str) and "{{" not in value:
                    try:
                        datetime.fromisoformat(value.replace("Z", "+00:00"))
                    except ValueError:
                        problems.append((("dates", i), f"`{value}` is not an ISO-8601 date-time"))
        return problems

    def plan(self, trigger: ScheduleOnDates) -> FirePlan:
        return DatesPlan(trigger.dates, trigger.timezone)


SCHEDULE_ON_DATES = register_kind(ScheduleOnDatesKind())
