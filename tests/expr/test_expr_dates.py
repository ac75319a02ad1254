"""`date`, `dateAdd`, `timestamp`, `now`: Java `DateTimeFormatter` semantics."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from kestrad.expr import ExpressionError, Renderer, dates

renderer = Renderer()
INSTANT = dt.datetime(2024, 3, 5, 14, 7, 9, 123456, tzinfo=dt.UTC)


def render(template: str, **context: object) -> str:
    return renderer.render(template, {"d": INSTANT, **context})


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("yyyy-MM-dd HH:mm:ss", "2024-03-05 14:07:09"),
        ("yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2024-03-05T14:07:09.123Z"),
        ("yy/M/d", "24/3/5"),
        ("dd MMM yyyy", "05 Mar 2024"),
        ("EEEE d MMMM", "Tuesday 5 March"),
        ("EEE", "Tue"),
        ("h:mm a", "2:07 PM"),
        ("K k H", "2 14 14"),
        ("D", "65"),
        ("SSSSSSSSS", "123456000"),
        ("S", "1"),
        ("'at' HH 'o''clock'", "at 14 o'clock"),
        ("''", "'"),
        ("Q QQQ QQQQ", "1 Q1 1st quarter"),
        ("xxx XX Z ZZZZZ", "+00:00 Z +0000 Z"),
        ("VV", "UTC"),
        ("[yyyy]", "2024"),
        ("u G", "2024 AD"),
        ("w Y", "10 2024"),
    ],
)
def test_date_pattern_in_utc(pattern: str, expected: str) -> None:
    assert render("{{ d | date(p, timeZone='UTC') }}", p=pattern) == expected


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("iso", "2024-03-05T14:07:09.123456Z"),
        ("iso_sec", "2024-03-05T14:07:09Z"),
        ("sql", "2024-03-05 14:07:09.123456"),
        ("sql_seq", "2024-03-05 14:07:09"),
        ("iso_date", "2024-03-05Z"),
        ("iso_local_date", "2024-03-05"),
        ("iso_time", "14:07:09.123456Z"),
        ("iso_local_time", "14:07:09.123456"),
        ("iso_local_date_time", "2024-03-05T14:07:09.123456"),
        ("iso_instant", "2024-03-05T14:07:09.123456Z"),
        ("iso_offset_time", "14:07:09.123456Z"),
        ("iso_ordinal_date", "2024-065Z"),
        ("iso_week_date", "2024-W10-2Z"),
        ("iso_zoned_date_time", "2024-03-05T14:07:09.123456Z[UTC]"),
        ("iso_date_time", "2024-03-05T14:07:09.123456Z[UTC]"),
        ("rfc_1123_date_time", "Tue, 5 Mar 2024 14:07:09 GMT"),
        ("medium", "Mar 5, 2024, 2:07:09 PM"),
        ("short", "3/5/24, 2:07 PM"),
    ],
)
def test_named_formats(fmt: str, expected: str) -> None:
    assert render("{{ d | date(f, timeZone='UTC') }}", f=fmt) == expected


def test_default_format_is_iso_and_zone_converts() -> None:
    assert render("{{ d | date(timeZone='Europe/Paris') }}") == "2024-03-05T15:07:09.123456+01:00"
    assert render("{{ d | date('HH:mm', timeZone='America/New_York') }}") == "09:07"
    assert render("{{ d | date('HH:mm xxx', timeZone='+05:30') }}") == "19:37 +05:30"
    assert render("{{ d | date('HH:mm VV', timeZone='Asia/Tokyo') }}") == "23:07 Asia/Tokyo"
    assert render("{{ d | date('O OOOO', timeZone='Asia/Kolkata') }}") == "GMT+5:30 GMT+05:30"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-15T10:00:00Z", "2024-01-15 10:00"),
        ("2024-01-15T10:00:00+02:00", "2024-01-15 08:00"),
        ("2024-01-15T10:00:00.5+02:00[Europe/Paris]", "2024-01-15 08:00"),
        ("2024-01-15T10:00:00", "2024-01-15 10:00"),  # local date-time in the zone
        ("2024-01-15T10:00", "2024-01-15 10:00"),
        ("2024-01-15", "2024-01-15 00:00"),  # a date string is the start of the day
        (1705312800, "2024-01-15 10:00"),  # epoch seconds
    ],
)
def test_date_inputs(value: object, expected: str) -> None:
    assert render("{{ v | date('yyyy-MM-dd HH:mm', timeZone='UTC') }}", v=value) == expected


def test_date_objects_as_input() -> None:
    # a LocalDate is taken at noon, a naive datetime in the given zone
    assert render("{{ v | date('HH:mm', timeZone='UTC') }}", v=dt.date(2024, 1, 1)) == "12:00"
    naive = dt.datetime(2024, 1, 1, 8, 30)
    assert (
        render("{{ v | date(timeZone='Europe/Paris') }}", v=naive)
        == "2024-01-01T08:30:00.000000+01:00"
    )


def test_existing_format() -> None:
    assert (
        render(
            "{{ '15/01/2024 10:30' | date('yyyy-MM-dd HH:mm', existingFormat='dd/MM/yyyy HH:mm', timeZone='UTC') }}"
        )
        == "2024-01-15 10:30"
    )
    assert (
        render(
            "{{ '05 Mar 2024' | date('yyyy-MM-dd', existingFormat='dd MMM yyyy', timeZone='UTC') }}"
        )
        == "2024-03-05"
    )
    assert (
        render(
            "{{ '2024-01-15 10:30:00+0200' | date('HH:mm', existingFormat='yyyy-MM-dd HH:mm:ssZ', timeZone='UTC') }}"
        )
        == "08:30"
    )
    assert (
        render("{{ '2024-01-15 10:30:00' | date('HH', existingFormat='sql_seq', timeZone='UTC') }}")
        == "10"
    )


def test_date_of_null_is_null_and_bad_input_fails() -> None:
    assert render("{{ null | date('yyyy') }}") == ""
    with pytest.raises(ExpressionError, match="could not be parsed"):
        render("{{ 'yesterday' | date('yyyy') }}")
    with pytest.raises(ExpressionError, match="Unknown time-zone"):
        render("{{ d | date('yyyy', timeZone='Mars/Olympus') }}")
    with pytest.raises(ExpressionError, match="Unknown pattern letter"):
        render("{{ d | date('yyyy-bb') }}")


@pytest.mark.parametrize(
    ("amount", "unit", "expected"),
    [
        (1, "DAYS", "2024-03-06T14:07:09.123456Z"),
        (-1, "DAYS", "2024-03-04T14:07:09.123456Z"),
        (2, "HOURS", "2024-03-05T16:07:09.123456Z"),
        (30, "MINUTES", "2024-03-05T14:37:09.123456Z"),
        (51, "SECONDS", "2024-03-05T14:08:00.123456Z"),
        (1, "WEEKS", "2024-03-12T14:07:09.123456Z"),
        (1, "MONTHS", "2024-04-05T14:07:09.123456Z"),
        (-1, "YEARS", "2023-03-05T14:07:09.123456Z"),
        (877, "MILLIS", "2024-03-05T14:07:10.000456Z"),
    ],
)
def test_date_add(amount: int, unit: str, expected: str) -> None:
    assert render("{{ d | dateAdd(a, u, timeZone='UTC') }}", a=amount, u=unit) == expected


def test_date_add_clamps_months_and_keeps_wall_clock_across_dst() -> None:
    assert (
        render("{{ '2024-01-31' | dateAdd(1, 'MONTHS', 'yyyy-MM-dd', timeZone='UTC') }}")
        == "2024-02-29"
    )
    # Europe/Paris switches to summer time on 2024-03-31: a day is a calendar day
    start = "2024-03-30T12:00:00+01:00"
    assert (
        render("{{ s | dateAdd(1, 'DAYS', 'HH:mm xxx', timeZone='Europe/Paris') }}", s=start)
        == "12:00 +02:00"
    )
    assert (
        render("{{ s | dateAdd(24, 'HOURS', 'HH:mm xxx', timeZone='Europe/Paris') }}", s=start)
        == "13:00 +02:00"
    )
    with pytest.raises(ExpressionError, match=r"ChronoUnit\.FORTNIGHTS"):
        render("{{ d | dateAdd(1, 'FORTNIGHTS') }}")


def test_timestamps() -> None:
    assert render("{{ d | timestamp }}") == "1709647629"
    assert render("{{ d | timestampMilli }}") == "1709647629123"
    assert render("{{ d | timestampMicro }}") == "1709647629123456"
    assert render("{{ d | timestampNano }}") == "1709647629123456000"
    assert render("{{ '2024-01-15T10:00:00' | timestamp(timeZone='UTC') }}") == "1705312800"


def test_now() -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    text = render("{{ now() }}")
    parsed = dt.datetime.fromisoformat(text)
    assert before <= parsed <= dt.datetime.now(dt.UTC)
    assert render("{{ now('yyyy', 'UTC') }}") == str(dt.datetime.now(dt.UTC).year)
    assert render("{{ now(format='xxx', timeZone='Asia/Kolkata') }}") == "+05:30"
    assert render("{{ now() | dateAdd(1, 'DAYS') | date('yyyy') }}").isdigit()


def test_zone_ids() -> None:
    assert dates.resolve_zone("Z") is dt.UTC
    assert dates.resolve_zone("+01:00").utcoffset(None) == dt.timedelta(hours=1)
    assert dates.resolve_zone("UTC-05:00").utcoffset(None) == dt.timedelta(hours=-5)
    assert dates.resolve_zone("GMT+2").utcoffset(None) == dt.timedelta(hours=2)
    assert isinstance(dates.resolve_zone("Europe/Paris"), ZoneInfo)
    assert dates.resolve_zone(None) is dates.system_zone()
    with pytest.raises(dates.DateError):
        dates.resolve_zone("+25:00")
