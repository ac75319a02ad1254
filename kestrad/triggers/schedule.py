"""`io.kestra.plugin.core.trigger.Schedule`: fires on a cron expression.

The schema, its load-time checks (the cron's shape, the zone, `lateMaximumDelay`), its
plan (`CronPlan`, shared by every trigger with the same cron and zone) and the one thing
it does beyond other timed kinds: skip fire times later than `lateMaximumDelay`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from kestrad.model.durations import parse_duration
from kestrad.triggers.base import Trigger
from kestrad.triggers.checks import duration_problems, timezone_problems
from kestrad.triggers.cron import NICKNAMES
from kestrad.triggers.fire_times import FirePlan, cron_plan
from kestrad.triggers.kind import Problem, Recovery, Skip, Step
from kestrad.triggers.registry import register_kind
from kestrad.triggers.timed import TimedKind, fire_step

CRON_NICKNAMES = frozenset(NICKNAMES)
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*?/,#\-]+$")


class Schedule(Trigger, kw_only=True):
    """Fires on a cron expression (5 fields, 6 with `withSeconds`, or a nickname)."""

    cron: str
    with_seconds: bool = False
    timezone: str | None = None
    late_maximum_delay: str | None = None
    schedule_conditions: list[dict[str, Any]] | None = None  # deprecated alias of conditions
    recover_missed_schedules: Recovery | None = None
    backfill: dict[str, Any] | None = None  # deprecated: backfills are set through the API


def cron_problem(cron: str, *, with_seconds: bool = False) -> str | None:
    """Why `cron` is not a usable cron expression, or None when its shape is right."""
    text = cron.strip()
    if text.lower() in CRON_NICKNAMES:
        return None
    fields = text.split()
    expected = 6 if with_seconds else 5
    if len(fields) != expected:
        extra = " (withSeconds: true)" if with_seconds else ""
        return f"invalid cron expression `{cron}`: expected {expected} fields{extra}, got {len(fields)}"
    for item in fields:
        if not _CRON_FIELD.match(item):
            return f"invalid cron expression `{cron}`: bad field `{item}`"
    return None


class ScheduleKind(TimedKind):
    type_name: ClassVar[str] = "io.kestra.plugin.core.trigger.Schedule"
    aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.models.triggers.types.Schedule",)
    schema: ClassVar[type[Trigger]] = Schedule

    def validate(self, raw: Mapping[str, Any]) -> list[Problem]:
        problems: list[Problem] = []
        cron = raw.get("cron")
        if isinstance(cron, str):
            problem = cron_problem(cron, with_seconds=raw.get("withSeconds") is True)
            if problem:
                problems.append((("cron",), problem))
        return problems + timezone_problems(raw) + duration_problems(raw, "lateMaximumDelay")

    def plan(self, trigger: Schedule) -> FirePlan:
        return cron_plan(trigger.cron, trigger.with_seconds, trigger.timezone)

    def due(
        self,
        trigger: Schedule,
        plan: FirePlan,
        next_fire_at: float,
        last_fire_at: float | None,
        now: float,
    ) -> Step:
        late = trigger.late_maximum_delay
        if late:
            floor = now - parse_duration(late).total_seconds()
            if next_fire_at < floor:
                # Too late to run: skip to the first fire time still within the delay.
                return Skip(next_fire_at, plan.at_or_after(floor))
        return fire_step(plan, next_fire_at, last_fire_at)

    def conditions(self, trigger: Schedule) -> list[Any]:
        """`conditions` and the deprecated `scheduleConditions`: all must hold."""
        return list(trigger.conditions or ()) + list(trigger.schedule_conditions or ())


SCHEDULE = register_kind(ScheduleKind())
