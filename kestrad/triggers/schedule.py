"""`io.kestra.plugin.core.trigger.Schedule` and `ScheduleOnDates`: time-based triggers."""

from __future__ import annotations

from typing import Any, Literal

from kestrad.triggers.base import Trigger
from kestrad.triggers.registry import register_trigger

Recovery = Literal["ALL", "LAST", "NONE"]


@register_trigger(
    "io.kestra.plugin.core.trigger.Schedule",
    "io.kestra.core.models.triggers.types.Schedule",
)
class Schedule(Trigger, kw_only=True):
    """Fires on a cron expression (5 fields, 6 with `withSeconds`, or a nickname)."""

    cron: str
    with_seconds: bool = False
    timezone: str | None = None
    late_maximum_delay: str | None = None
    schedule_conditions: list[dict[str, Any]] | None = None  # deprecated alias of conditions
    recover_missed_schedules: Recovery | None = None
    backfill: dict[str, Any] | None = None  # deprecated: backfills are set through the API


@register_trigger("io.kestra.plugin.core.trigger.ScheduleOnDates")
class ScheduleOnDates(Trigger, kw_only=True):
    """Fires once on each of a fixed list of dates."""

    dates: list[str]
    timezone: str | None = None
    recover_missed_schedules: Recovery | None = None
