"""Cron fire times: DST in both directions, month ends, seconds, and monotonicity."""

from __future__ import annotations

import itertools
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kestrad.triggers.cron import NEVER, CronError, CronSchedule


def walk(cron: CronSchedule, start: str, count: int, *, back: bool = False) -> list[str]:
    t = datetime.fromisoformat(start).timestamp()
    out = []
    for _ in range(count):
        t = cron.previous_before(t) if back else cron.next_after(t)
        out.append(cron.local(t).isoformat())
    return out


BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def test_berlin_spring_forward_fixed_time_fires_once_after_the_gap() -> None:
    cron = CronSchedule("30 2 * * *", timezone=BERLIN)
    assert walk(cron, "2024-03-30T12:00:00+01:00", 3) == [
        "2024-03-31T03:00:00+02:00",
        "2024-04-01T02:30:00+02:00",
        "2024-04-02T02:30:00+02:00",
    ]


def test_berlin_spring_forward_hourly_skips_the_missing_hour() -> None:
    cron = CronSchedule("0 * * * *", timezone=BERLIN)
    assert walk(cron, "2024-03-31T00:30:00+01:00", 3) == [
        "2024-03-31T01:00:00+01:00",
        "2024-03-31T03:00:00+02:00",
        "2024-03-31T04:00:00+02:00",
    ]


def test_berlin_fall_back_fixed_time_fires_once() -> None:
    cron = CronSchedule("30 2 * * *", timezone=BERLIN)
    assert walk(cron, "2024-10-26T12:00:00+02:00", 2) == [
        "2024-10-27T02:30:00+02:00",
        "2024-10-28T02:30:00+01:00",
    ]
    assert walk(cron, "2024-10-28T12:00:00+01:00", 2, back=True) == [
        "2024-10-28T02:30:00+01:00",
        "2024-10-27T02:30:00+02:00",
    ]


def test_berlin_fall_back_wildcard_hour_fires_in_both_passes() -> None:
    cron = CronSchedule("*/30 * * * *", timezone=BERLIN)
    forward = walk(cron, "2024-10-27T01:45:00+02:00", 6)
    assert forward == [
        "2024-10-27T02:00:00+02:00",
        "2024-10-27T02:30:00+02:00",
        "2024-10-27T02:00:00+01:00",
        "2024-10-27T02:30:00+01:00",
        "2024-10-27T03:00:00+01:00",
        "2024-10-27T03:30:00+01:00",
    ]
    assert walk(cron, "2024-10-27T03:45:00+01:00", 6, back=True) == forward[::-1]


def test_new_york_spring_forward_and_fall_back() -> None:
    daily = CronSchedule("30 2 * * *", timezone=NEW_YORK)
    assert walk(daily, "2024-03-09T12:00:00-05:00", 2) == [
        "2024-03-10T03:00:00-04:00",
        "2024-03-11T02:30:00-04:00",
    ]
    early = CronSchedule("30 1 * * *", timezone=NEW_YORK)
    assert walk(early, "2024-11-02T12:00:00-04:00", 2) == [
        "2024-11-03T01:30:00-04:00",
        "2024-11-04T01:30:00-05:00",
    ]
    hourly = CronSchedule("0 * * * *", timezone=NEW_YORK)
    assert walk(hourly, "2024-11-03T00:30:00-04:00", 3) == [
        "2024-11-03T01:00:00-04:00",
        "2024-11-03T01:00:00-05:00",
        "2024-11-03T02:00:00-05:00",
    ]


def test_monthly_from_the_31st_and_the_31st_of_each_month() -> None:
    monthly = CronSchedule("@monthly", timezone="UTC")
    assert walk(monthly, "2024-01-31T12:00:00+00:00", 2) == [
        "2024-02-01T00:00:00+00:00",
        "2024-03-01T00:00:00+00:00",
    ]
    on_31 = CronSchedule("0 0 31 * *", timezone="UTC")
    assert walk(on_31, "2024-01-31T12:00:00+00:00", 3) == [
        "2024-03-31T00:00:00+00:00",
        "2024-05-31T00:00:00+00:00",
        "2024-07-31T00:00:00+00:00",
    ]
    last = CronSchedule("0 0 L * *", timezone="UTC")  # croniter's own walk
    assert walk(last, "2024-01-31T12:00:00+00:00", 2) == [
        "2024-02-29T00:00:00+00:00",
        "2024-03-31T00:00:00+00:00",
    ]


def test_with_seconds_is_seconds_first() -> None:
    cron = CronSchedule("*/15 * * * * *", with_seconds=True, timezone="UTC")
    assert walk(cron, "2024-01-01T00:00:00+00:00", 3) == [
        "2024-01-01T00:00:15+00:00",
        "2024-01-01T00:00:30+00:00",
        "2024-01-01T00:00:45+00:00",
    ]
    with pytest.raises(CronError):
        CronSchedule("*/15 * * * *", with_seconds=True)


def test_nicknames_dow_seven_and_never() -> None:
    assert CronSchedule("@hourly").repeats_in_fold
    sunday = CronSchedule("0 0 * * 7", timezone="UTC")
    assert walk(sunday, "2024-01-01T00:00:00+00:00", 1) == ["2024-01-07T00:00:00+00:00"]
    never = CronSchedule("0 0 30 2 *", timezone="UTC")
    assert never.next_after(0) == NEVER
    with pytest.raises(CronError):
        CronSchedule("0 0 * *")
    with pytest.raises(CronError):
        CronSchedule("0 0 * * *", timezone="Mars/Olympus")


def test_at_or_after_includes_an_exact_fire_time() -> None:
    cron = CronSchedule("0 * * * *", timezone="UTC")
    t = datetime(2024, 1, 1, 5, tzinfo=ZoneInfo("UTC")).timestamp()
    assert cron.at_or_after(t) == t
    assert cron.at_or_after(t + 0.5) == t + 3600


CRONS = st.sampled_from(
    ["* * * * *", "*/7 * * * *", "30 2 * * *", "0 * * * *", "15 1,2,3 * * 1-5", "0 0 1 * *"]
)
ZONES = st.sampled_from(["UTC", BERLIN, NEW_YORK, "Australia/Lord_Howe"])


@settings(max_examples=150, deadline=None)
@given(CRONS, ZONES, st.integers(1_600_000_000, 1_900_000_000))
def test_next_fire_times_increase_and_previous_inverts(expr: str, zone: str, start: int) -> None:
    cron = CronSchedule(expr, timezone=zone)
    t = float(start)
    fires = []
    for _ in range(8):
        nxt = cron.next_after(t)
        assert nxt > t
        fires.append(nxt)
        t = nxt
    assert fires == sorted(set(fires))
    for earlier, later in itertools.pairwise(fires):
        assert cron.previous_before(later) == earlier
        assert cron.next_after(earlier) == later
