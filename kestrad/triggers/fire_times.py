"""When a time-based trigger fires: a cron (`Schedule`) or a fixed list (`ScheduleOnDates`).

The scheduler only asks a plan for instants (epoch seconds) and formats dates in the
plan's zone; it does not care which kind of trigger it has.
"""

from __future__ import annotations

import functools
import hashlib
from bisect import bisect_left, bisect_right
from datetime import datetime
from typing import Any

from kestrad.triggers.cron import NEVER, CronError, cron_schedule, zone_named
from kestrad.triggers.schedule import Schedule, ScheduleOnDates


class FirePlan:
    """The fire times of one trigger; `fingerprint` changes when they would."""

    fingerprint: str
    zone: Any

    def next_after(self, when: float) -> float:
        raise NotImplementedError

    def previous_before(self, when: float) -> float:
        raise NotImplementedError

    def at_or_after(self, when: float) -> float:
        raise NotImplementedError

    def iso(self, when: float) -> str | None:
        """An instant as ISO-8601 in the plan's zone (None for NEVER)."""
        if abs(when) >= NEVER:
            return None
        return datetime.fromtimestamp(when, self.zone).isoformat()


class CronPlan(FirePlan):
    def __init__(self, cron: str, with_seconds: bool, timezone: str | None) -> None:
        self.cron = cron_schedule(cron, with_seconds, timezone)
        self.zone = self.cron.zone
        self.fingerprint = _digest("cron", cron, with_seconds, str(self.zone))

    def next_after(self, when: float) -> float:
        return self.cron.next_after(when)

    def previous_before(self, when: float) -> float:
        return self.cron.previous_before(when)

    def at_or_after(self, when: float) -> float:
        return self.cron.at_or_after(when)


class DatesPlan(FirePlan):
    def __init__(self, trigger: ScheduleOnDates) -> None:
        self.zone = zone_named(trigger.timezone)
        instants = []
        for text in trigger.dates:
            try:
                value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
            except ValueError as exc:
                raise CronError(f"`{text}` is not an ISO-8601 date-time") from exc
            if value.tzinfo is None:
                value = value.replace(tzinfo=self.zone)
            instants.append(value.timestamp())
        self.instants = sorted(set(instants))
        self.fingerprint = _digest("dates", *self.instants, str(self.zone))

    def next_after(self, when: float) -> float:
        i = bisect_right(self.instants, when)
        return self.instants[i] if i < len(self.instants) else NEVER

    def previous_before(self, when: float) -> float:
        i = bisect_left(self.instants, when)
        return self.instants[i - 1] if i > 0 else -NEVER

    def at_or_after(self, when: float) -> float:
        i = bisect_left(self.instants, when)
        return self.instants[i] if i < len(self.instants) else NEVER


def plan_for(trigger: Any) -> FirePlan | None:
    """The plan of a time-based trigger; None for other trigger kinds. Raises CronError."""
    if isinstance(trigger, Schedule):
        return _cron_plan(trigger.cron, trigger.with_seconds, trigger.timezone)
    if isinstance(trigger, ScheduleOnDates):
        return DatesPlan(trigger)
    return None


@functools.lru_cache(maxsize=4096)
def _cron_plan(cron: str, with_seconds: bool, timezone: str | None) -> CronPlan:
    """Plans hold no per-trigger state, and 100 000 triggers share a few expressions."""
    return CronPlan(cron, with_seconds, timezone)


def _digest(*parts: Any) -> str:
    return hashlib.sha1("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:16]
