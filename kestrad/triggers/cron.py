"""Next and previous fire times of a Schedule's cron, DST-correct, behind one small class.

croniter parses and expands the expression (and walks the rare syntaxes: `L`, `W`, `#`);
plain expressions are matched here on wall-clock fields, because croniter's own
iteration costs ~300 µs a step and the scheduler computes two per fire. The DST rules
are fixed here, so the scheduler never depends on a library's DST behaviour:

- Outside this module times are instants (epoch seconds); wall clocks only inside it.
- Spring forward: a wall time skipped by the gap fires once, at the first instant after
  the gap (a `30 2 * * *` job runs at 03:00 that day instead of not at all).
- Fall back: a job with a fixed hour fires once, in the first of the two repeated hours;
  a job whose hour field is a wildcard (`0 * * * *`, `*/15 * * * *`) fires in both,
  since each is a real hour that passes. This is Debian cron's rule.
- `withSeconds` takes six fields, seconds first, as Kestra writes them.
"""

from __future__ import annotations

import calendar
import functools
import math
import os
from bisect import bisect_left
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from croniter import croniter

# croniter (with dateutil) loads when a schedule is built, not with the trigger registry:
# a one-shot `kestrad run` of a flow without a Schedule never needs it.

NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# The stand-in fire time of a schedule that will never fire again ("0 0 30 2 *", a past
# ScheduleOnDates): 9999-12-31T23:59:59Z, so `next_fire_at` stays a plain indexed number.
NEVER = 253402300799.0
_SECOND = timedelta(seconds=1)
_SEARCH_YEARS = 50  # croniter's own limit for an expression that matches nothing


class CronError(ValueError):
    """An expression croniter cannot parse, or an unknown time zone."""


@functools.cache
def default_zone() -> ZoneInfo:
    """The system time zone (`TZ`, else /etc/localtime), like Java's default ZoneId; else UTC."""
    name = os.environ.get("TZ", "").lstrip(":")
    if not name:
        try:
            target = str(Path("/etc/localtime").resolve())
            name = target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else ""
        except OSError:
            name = ""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def zone_named(name: str | None) -> ZoneInfo:
    """The zone of a trigger's `timezone` property (None → the system zone)."""
    if not name:
        return default_zone()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CronError(f"unknown timezone `{name}`") from exc


class _Fields:
    """Expanded fields of a plain expression, sorted; None for an unrestricted day field."""

    def __init__(self, expanded: list[list[int | str]]) -> None:
        def values(field: list[int | str], full: range) -> list[int]:
            return list(full) if field == ["*"] else sorted({int(v) for v in field})

        self.minutes = values(expanded[0], range(60))
        self.hours = values(expanded[1], range(24))
        self.doms = None if expanded[2] == ["*"] else frozenset(int(v) for v in expanded[2])
        self.months = values(expanded[3], range(1, 13))
        self.dows = None if expanded[4] == ["*"] else frozenset(int(v) % 7 for v in expanded[4])
        self.seconds = values(expanded[5], range(60)) if len(expanded) > 5 else [0]
        self.month_set = frozenset(self.months)

    def day_ok(self, y: int, mo: int, d: int) -> bool:
        # Vixie cron: when both day fields are restricted a day matching either fires.
        if self.doms is None and self.dows is None:
            return True
        dom_ok = self.doms is not None and d in self.doms
        dow_ok = self.dows is not None and (calendar.weekday(y, mo, d) + 1) % 7 in self.dows
        if self.doms is not None and self.dows is not None:
            return dom_ok or dow_ok
        return dom_ok if self.doms is not None else dow_ok

    def next_wall(self, w: datetime) -> datetime | None:
        """The first matching wall time strictly after naive `w`."""
        c = w.replace(microsecond=0) + _SECOND
        y, mo, d, h, mi, s = c.year, c.month, c.day, c.hour, c.minute, c.second
        last_year = min(y + _SEARCH_YEARS, 9999)
        while y <= last_year:
            if mo not in self.month_set:
                i = bisect_left(self.months, mo)
                if i == len(self.months):
                    y, mo = y + 1, self.months[0]
                else:
                    mo = self.months[i]
                d, h, mi, s = 1, 0, 0, 0
                continue
            if d > calendar.monthrange(y, mo)[1]:
                mo, d, h, mi, s = mo + 1, 1, 0, 0, 0
                if mo > 12:
                    y, mo = y + 1, 1
                continue
            if not self.day_ok(y, mo, d):
                d, h, mi, s = d + 1, 0, 0, 0
                continue
            hh = _first_at_least(self.hours, h)
            if hh is None:
                d, h, mi, s = d + 1, 0, 0, 0
                continue
            if hh != h:
                h, mi, s = hh, 0, 0
            mm = _first_at_least(self.minutes, mi)
            if mm is None:
                h, mi, s = h + 1, 0, 0
                continue
            if mm != mi:
                mi, s = mm, 0
            ss = _first_at_least(self.seconds, s)
            if ss is None:
                mi, s = mi + 1, 0
                continue
            return datetime(y, mo, d, h, mi, ss)
        return None


def _first_at_least(values: list[int], floor: int) -> int | None:
    i = bisect_left(values, floor)
    return values[i] if i < len(values) else None


@functools.lru_cache(maxsize=4096)
def cron_schedule(
    expression: str, with_seconds: bool = False, timezone: str | None = None
) -> CronSchedule:
    """A shared CronSchedule: parsing and expanding costs ~0.5 ms, 100 000 flows often
    share a handful of expressions, and a CronSchedule holds no per-trigger state."""
    return CronSchedule(expression, with_seconds=with_seconds, timezone=timezone)


class CronSchedule:
    """One cron expression in one time zone; every method takes and returns epoch seconds."""

    def __init__(self, expression: str, *, with_seconds: bool = False, timezone: str | None = None):
        self.expression = expression.strip()
        self.zone = zone_named(timezone)
        nickname = self.expression.lower() in NICKNAMES
        text = NICKNAMES.get(self.expression.lower(), self.expression)
        fields = text.split()
        expected = 6 if with_seconds and not nickname else 5
        if len(fields) != expected:
            raise CronError(
                f"invalid cron expression `{expression}`: expected {expected} fields, "
                f"got {len(fields)}"
            )
        seconds = expected == 6
        # Debian's rule: only wildcard-hour jobs run again in a repeated (fall back) hour.
        self.repeats_in_fold = "*" in (fields[2] if seconds else fields[1])
        from croniter import CroniterError, croniter

        try:
            expanded, nth = croniter.expand(text, second_at_beginning=seconds)
        except (CroniterError, ValueError, KeyError, IndexError) as exc:
            raise CronError(f"invalid cron expression `{expression}`: {exc}") from exc
        plain = not nth and all(v == "*" or isinstance(v, int) for f in expanded for v in f)
        self._fields = _Fields(expanded) if plain else None
        self._span = 2.0  # where `previous_before` starts looking back from
        self._iter: croniter | None = (
            None if plain else croniter(text, datetime(2000, 1, 1), second_at_beginning=seconds)
        )

    # -- public ------------------------------------------------------------------------------
    def local(self, when: float) -> datetime:
        """The instant as an aware datetime in this schedule's zone (fold set by zoneinfo)."""
        return datetime.fromtimestamp(when, self.zone)

    def next_after(self, when: float) -> float:
        """The first fire time strictly after `when` (NEVER when there is none)."""
        local = self.local(when)
        w = local.replace(tzinfo=None, fold=0)
        other = local.replace(fold=1 - local.fold)
        if other.utcoffset() == local.utcoffset():
            return self._resolve(self._next_wall(w))
        # `when` lies in a repeated (fall back) hour: walls before `w` come round again.
        start, end = self._repeat_span(when, local)
        if local.fold == 0:
            wall = self._next_wall(w)
            if wall is not None and wall < end:
                return self._instant(wall, fold=0)
            if self.repeats_in_fold:
                again = self._next_wall(start - _SECOND)
                if again is not None and again < end:
                    return self._instant(again, fold=1)
            return self._resolve(wall)
        wall = self._next_wall(w if self.repeats_in_fold else max(w, end - _SECOND))
        if wall is not None and wall < end:
            return self._instant(wall, fold=1)
        return self._resolve(wall)

    def previous_before(self, when: float) -> float:
        """The last fire time strictly before `when` (-NEVER when there is none).

        Found by stepping `next_after` from ever earlier starts, so it obeys exactly the
        same DST rules as the forward direction.
        """
        span = self._span
        limit = _SEARCH_YEARS * 366 * 86400.0
        while span < limit:
            fire = self.next_after(when - span)
            if fire < when:
                while True:
                    after = self.next_after(fire)
                    if after >= when:
                        # Next time, start from about this distance: one or two steps.
                        self._span = max(2.0, (when - fire) * 1.01)
                        return fire
                    fire = after
            span *= 4
        return -NEVER

    def at_or_after(self, when: float) -> float:
        """The first fire time at or after `when` (fire times are whole seconds)."""
        return self.next_after(math.ceil(when) - 1.0)

    # -- wall clock ↔ instants ---------------------------------------------------------------
    def _next_wall(self, w: datetime) -> datetime | None:
        if self._fields is not None:
            return self._fields.next_wall(w)
        assert self._iter is not None
        from croniter import CroniterError

        self._iter.set_current(w, force=True)
        try:
            return self._iter.get_next(datetime)
        except CroniterError:
            return None

    def _instant(self, wall: datetime, *, fold: int) -> float:
        return wall.replace(tzinfo=self.zone, fold=fold).timestamp()

    def _resolve(self, wall: datetime | None) -> float:
        """The instant a wall time outside the current repeated hour fires at."""
        if wall is None:
            return NEVER
        first = self._instant(wall, fold=0)
        back = datetime.fromtimestamp(first, self.zone)
        if (back.hour, back.minute, back.second, back.day) == (
            wall.hour,
            wall.minute,
            wall.second,
            wall.day,
        ):
            return first  # it exists: unambiguous, or the first pass of a repeated hour
        second = self._instant(wall, fold=1)
        if first <= second:
            return first  # unambiguous, or the first pass of a repeated hour
        # A wall time inside a spring-forward gap: fire at the first instant after it.
        return float(self._first_instant(int(second), int(first), lambda x: self._wall(x) >= wall))

    def _repeat_span(self, when: float, local: datetime) -> tuple[datetime, datetime]:
        """[start, end) of the repeated wall times around `when`, which lies in them."""
        diff = (
            local.replace(fold=0).utcoffset() - local.replace(fold=1).utcoffset()
        ).total_seconds()
        after = local.replace(fold=1).utcoffset()
        lo, hi = (
            (int(when), int(when + diff) + 1)
            if local.fold == 0
            else (int(when - diff) - 1, int(when) + 1)
        )
        transition = self._first_instant(lo, hi, lambda x: self.local(x).utcoffset() == after)
        start = self._wall(transition)
        return start, start + timedelta(seconds=diff)

    def _wall(self, instant: float) -> datetime:
        return self.local(instant).replace(tzinfo=None, fold=0)

    @staticmethod
    def _first_instant(lo: int, hi: int, reached: object) -> int:
        """The first whole second in (lo, hi] where `reached` holds (it flips once there)."""
        check = reached  # type: ignore[assignment]
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if check(mid):  # type: ignore[operator]
                hi = mid
            else:
                lo = mid
        return hi
