"""Fire plans: the instants a trigger fires at — a cron (`Schedule`), a fixed list
(`ScheduleOnDates`), or every `interval` (polling triggers).

Each timed kind builds its plan (`TriggerKind.plan`); the scheduler only asks a plan for
instants (epoch seconds) and formats dates in the plan's zone, whatever the kind.
"""

from __future__ import annotations

import functools
import hashlib
from bisect import bisect_left, bisect_right
from datetime import UTC, datetime
from typing import Any

from kestrad.model.durations import DurationError, parse_duration
from kestrad.triggers.cron import NEVER, CronError, cron_schedule, zone_named


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
    """A cron's fire times, memoised per instant.

    Plans are shared by every trigger with the same cron and zone, and such triggers come
    due at the same instants (every `0 * * * *` at the top of the hour): the first of them
    computes the next and previous fire times, the others read them. The memo is small and
    cleared when full, so it never grows with the number of triggers.
    """

    _MEMO = 512

    def __init__(self, cron: str, with_seconds: bool, timezone: str | None) -> None:
        self.cron = cron_schedule(cron, with_seconds, timezone)
        self.zone = self.cron.zone
        self.fingerprint = _digest("cron", cron, with_seconds, str(self.zone))
        self._next: dict[float, float] = {}
        self._previous: dict[float, float] = {}
        self._iso: dict[float, str | None] = {}

    def next_after(self, when: float) -> float:
        found = self._next.get(when)
        if found is None:
            if len(self._next) >= self._MEMO:
                self._next.clear()
            found = self._next[when] = self.cron.next_after(when)
        return found

    def previous_before(self, when: float) -> float:
        found = self._previous.get(when)
        if found is None:
            if len(self._previous) >= self._MEMO:
                self._previous.clear()
            found = self._previous[when] = self.cron.previous_before(when)
        return found

    def iso(self, when: float) -> str | None:
        try:
            return self._iso[when]
        except KeyError:
            if len(self._iso) >= self._MEMO:
                self._iso.clear()
            text = self._iso[when] = FirePlan.iso(self, when)
            return text

    def at_or_after(self, when: float) -> float:
        return self.cron.at_or_after(when)


class DatesPlan(FirePlan):
    """A fixed list of dates; those without an offset are in `timezone`."""

    def __init__(self, dates: list[str], timezone: str | None) -> None:
        self.zone = zone_named(timezone)
        instants = []
        for text in dates:
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


class IntervalPlan(FirePlan):
    """A polling trigger: evaluated every `interval` after the previous evaluation."""

    def __init__(self, interval: str) -> None:
        try:
            self.seconds = parse_duration(interval).total_seconds()
        except DurationError as exc:
            raise CronError(str(exc)) from exc
        if self.seconds <= 0:
            raise CronError(f"`interval` must be positive, not `{interval}`")
        self.zone = UTC
        self.fingerprint = _digest("interval", self.seconds)

    def next_after(self, when: float) -> float:
        return when + self.seconds

    def previous_before(self, when: float) -> float:
        return when - self.seconds

    def at_or_after(self, when: float) -> float:
        return when


@functools.lru_cache(maxsize=4096)
def cron_plan(cron: str, with_seconds: bool, timezone: str | None) -> CronPlan:
    """Plans hold no per-trigger state, and 100 000 triggers share a few expressions."""
    return CronPlan(cron, with_seconds, timezone)


def _digest(*parts: Any) -> str:
    return hashlib.sha1("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:16]


def recovered(policy: str, plan: FirePlan, next_fire_at: float, now: float) -> float | None:
    """The next fire time of a trigger whose `next_fire_at` has passed while it was not
    scheduled (the daemon down, the trigger disabled), under `recoverMissedSchedules`:
    ALL keeps it (catch up one by one), LAST moves it to the last fire time missed, NONE
    to the first one still to come. None when it stays as it is."""
    if policy == "ALL":
        return None
    if policy == "LAST":
        last = plan.previous_before(now + 1e-6)
        return last if last > next_fire_at else None
    return plan.next_after(now)
