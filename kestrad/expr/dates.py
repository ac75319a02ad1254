"""Kestra's date handling: Java `DateTimeFormatter` patterns, zones and date arithmetic.

Flows say `{{ now() | date('yyyy-MM-dd HH:mm') }}` with *Java* pattern letters, and
`existingFormat` / ISO strings are parsed the way `ZonedDateTime.parse` parses them. Python's
`strftime` uses other letters, so patterns are interpreted here, letter by letter.

Names (month, day, era, AM/PM) are English; Kestra's default locale is English too. Other
locales are accepted and ignored.
"""

from __future__ import annotations

import calendar
import contextlib
import datetime as dt
import functools
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kestrad.expr.output import iso_offset

UTC = dt.UTC


class DateError(ValueError):
    """A date could not be converted, parsed or formatted (message is user-facing)."""


# -- zones ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def system_zone() -> dt.tzinfo:
    """The machine's zone, as Java's `ZoneId.systemDefault()` (Kestra's default zone)."""
    candidates: list[str] = []
    tz_env = os.environ.get("TZ", "").lstrip(":")
    if tz_env:
        candidates.append(tz_env)
    try:
        link = os.readlink("/etc/localtime")
        if "zoneinfo/" in link:
            candidates.append(link.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text().strip())
    for name in candidates:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    local = dt.datetime.now().astimezone().tzinfo
    return local if local is not None else UTC


_OFFSET_RE = re.compile(r"^([+-])(\d{1,2})(?::?(\d{2}))?(?::?(\d{2}))?$")


@functools.lru_cache(maxsize=256)
def resolve_zone(name: str | None) -> dt.tzinfo:
    """Java's `ZoneId.of`: `Europe/Paris`, `UTC`, `Z`, `+01:00`, `UTC+1`, `GMT-05:00`."""
    if name is None:
        return system_zone()
    if not isinstance(name, str) or not name:
        raise DateError(f"Invalid time zone '{name}'")
    if name == "Z":
        return UTC
    match = _OFFSET_RE.match(name)
    if match:
        return _fixed_offset(match, name)
    for prefix in ("UTC", "GMT", "UT"):
        if name.startswith(prefix) and len(name) > len(prefix) and name[len(prefix)] in "+-":
            match = _OFFSET_RE.match(name[len(prefix) :])
            if match:
                return _fixed_offset(match, name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise DateError(f"Unknown time-zone ID: {name}") from exc


def _fixed_offset(match: re.Match[str], name: str) -> dt.tzinfo:
    sign, hours, minutes, seconds = match.groups()
    delta = dt.timedelta(hours=int(hours), minutes=int(minutes or 0), seconds=int(seconds or 0))
    if delta > dt.timedelta(hours=18):
        raise DateError(f"Invalid ID for offset-based ZoneId: {name}")
    return dt.timezone(-delta if sign == "-" else delta)


def zone_id(value: dt.datetime) -> str:
    """A zone's Java id: region name (`Europe/Paris`) or offset id (`Z`, `+01:00`)."""
    tz = value.tzinfo
    if isinstance(tz, ZoneInfo):
        return tz.key
    return iso_offset(value.utcoffset())


# -- conversion -----------------------------------------------------------------------------


def to_zoned(value: Any, zone: dt.tzinfo, existing_format: str | None = None) -> dt.datetime:
    """Any date-like input as an aware datetime in `zone` (Kestra's `AbstractDate.convert`).

    datetime (aware: converted; naive: taken as local time in `zone`), date (at noon), int
    (epoch seconds) or a string (ISO, or `existing_format`).
    """
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=zone)
        return value.astimezone(zone)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(12, 0), tzinfo=zone)
    if isinstance(value, bool):
        raise DateError(f"Unable to convert '{value}' to a date")
    if isinstance(value, int | float):
        try:
            return dt.datetime.fromtimestamp(value, tz=zone)
        except (OverflowError, OSError, ValueError) as exc:
            raise DateError(f"Invalid epoch seconds {value}") from exc
    if isinstance(value, str):
        if existing_format is not None:
            return parse_with_format(value, existing_format, zone)
        return parse_iso(value, zone)
    raise DateError(f"Unable to convert '{value}' of type {type(value).__name__} to a date")


_ISO_RE = re.compile(
    r"^(?P<date>[+-]?\d{4,9}-\d{2}-\d{2})"
    r"(?:T(?P<time>\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)"
    r"(?P<offset>Z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?)?"
    r"(?:\[(?P<zone>[^\]]+)\])?)?$",
    re.IGNORECASE,
)


def parse_iso(text: str, zone: dt.tzinfo) -> dt.datetime:
    """`ZonedDateTime.parse`, then `LocalDateTime.parse`, then `LocalDate.parse` (start of day)."""
    match = _ISO_RE.match(text.strip())
    if not match:
        raise DateError(f"Text '{text}' could not be parsed")
    try:
        date = dt.date.fromisoformat(match["date"])
        if match["time"] is None:
            return dt.datetime.combine(date, dt.time(0, 0), tzinfo=zone)
        time_text = match["time"].replace(",", ".")
        if "." in time_text:
            head, frac = time_text.split(".")
            time_text = f"{head}.{frac[:6].ljust(6, '0')}"
        local = dt.datetime.combine(date, dt.time.fromisoformat(time_text))
    except ValueError as exc:
        raise DateError(f"Text '{text}' could not be parsed: {exc}") from exc
    offset_text = match["offset"]
    if offset_text is None:
        if match["zone"]:
            return local.replace(tzinfo=resolve_zone(match["zone"])).astimezone(zone)
        return local.replace(tzinfo=zone)
    offset = UTC if offset_text.upper() == "Z" else resolve_zone(offset_text)
    return local.replace(tzinfo=offset).astimezone(zone)


# -- pattern tokens -------------------------------------------------------------------------

Token = tuple[str, str, int]  # (kind, text-or-letter, count); kind in lit/field/opt/end


@functools.lru_cache(maxsize=512)
def _tokenize(pattern: str) -> tuple[Token, ...]:
    tokens: list[Token] = []
    i = 0
    n = len(pattern)
    depth = 0
    while i < n:
        ch = pattern[i]
        if ch == "'":
            end = i + 1
            text = []
            while True:
                if end >= n:
                    raise DateError(f"Pattern ends with an incomplete string literal: {pattern}")
                if pattern[end] == "'":
                    if end + 1 < n and pattern[end + 1] == "'":
                        text.append("'")
                        end += 2
                        continue
                    break
                text.append(pattern[end])
                end += 1
            tokens.append(("lit", "".join(text) if end > i + 1 else "'", 0))
            i = end + 1
        elif ch.isascii() and ch.isalpha():
            j = i
            while j < n and pattern[j] == ch:
                j += 1
            tokens.append(("field", ch, j - i))
            i = j
        elif ch == "[":
            depth += 1
            tokens.append(("opt", "[", 0))
            i += 1
        elif ch == "]":
            if depth == 0:
                raise DateError(f"Pattern invalid as it contains ] without previous [: {pattern}")
            depth -= 1
            tokens.append(("end", "]", 0))
            i += 1
        elif ch in "#{}":
            raise DateError(f"Pattern includes reserved character: '{ch}'")
        else:
            tokens.append(("lit", ch, 0))
            i += 1
    for kind, letter, count in tokens:
        if kind == "field" and letter not in _FIELD_LETTERS:
            raise DateError(f"Unknown pattern letter: {letter}")
        if kind == "field" and count > _MAX_COUNT.get(letter, 5):
            raise DateError(f"Too many pattern letters: {letter}")
    return tuple(tokens)


_FIELD_LETTERS = set("GuyDMLdQqYwWEecFaBhKkHmsSAnNVvzOXxZp")
_MAX_COUNT = {
    "S": 9,
    "n": 19,
    "N": 19,
    "A": 19,
    "u": 19,
    "y": 19,
    "Y": 19,
    "d": 2,
    "D": 3,
    "h": 2,
    "K": 2,
    "k": 2,
    "H": 2,
    "m": 2,
    "s": 2,
    "a": 1,
    "V": 2,
    "z": 4,
    "w": 2,
    "W": 1,
    "F": 1,
}

_MONTHS = [calendar.month_name[i] for i in range(1, 13)]
_DAYS = list(calendar.day_name)  # Monday first


def _pad(value: int, count: int) -> str:
    if value < 0:
        return "-" + str(-value).zfill(count)
    return str(value).zfill(count)


def _text(full: str, count: int) -> str:
    if count == 4:
        return full
    if count == 5:
        return full[0]
    return full[:3]


def _offset(value: dt.datetime, letter: str, count: int) -> str:
    offset = value.utcoffset() or dt.timedelta(0)
    total = int(offset.total_seconds())
    if letter == "O":
        if total == 0:
            return "GMT"
        sign = "+" if total > 0 else "-"
        hours, rest = divmod(abs(total), 3600)
        minutes, seconds = divmod(rest, 60)
        if count == 1:
            text = f"GMT{sign}{hours}"
            return text + (f":{minutes:02d}" if minutes or seconds else "")
        return f"GMT{sign}{hours:02d}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")
    if letter == "Z":
        if count <= 3:
            return _offset_digits(total, 2, zero=None)
        if count == 4:
            return _offset(value, "O", 4)
        return _offset_digits(total, 5, zero="Z")
    zero = "Z" if letter == "X" else None
    return _offset_digits(total, count, zero=zero)


def _offset_digits(total: int, count: int, zero: str | None) -> str:
    if total == 0 and zero is not None:
        return zero
    sign = "+" if total >= 0 else "-"
    hours, rest = divmod(abs(total), 3600)
    minutes, seconds = divmod(rest, 60)
    colon = count in (3, 5)
    sep = ":" if colon else ""
    if count == 1:
        return f"{sign}{hours:02d}" + (f"{minutes:02d}" if minutes else "")
    text = f"{sign}{hours:02d}{sep}{minutes:02d}"
    if count >= 4 and seconds:
        text += f"{sep}{seconds:02d}"
    return text


def _us_week_start(day: dt.date) -> dt.date:
    """Sunday on or before `day` (US week definition, Java's default for English)."""
    return day - dt.timedelta(days=(day.weekday() + 1) % 7)


def _us_week_based(day: dt.date) -> tuple[int, int]:
    """(week-based-year, week-of-week-based-year) with weeks starting Sunday, min 1 day."""
    year = day.year
    start_next = _us_week_start(dt.date(year + 1, 1, 1))
    if day >= start_next:
        return year + 1, 1
    start = _us_week_start(dt.date(year, 1, 1))
    return year, (day - start).days // 7 + 1


def _zone_name(value: dt.datetime, count: int) -> str:
    name = value.tzname() or zone_id(value)
    if count == 4:
        if name in ("UTC", "GMT", "Z") or (not value.utcoffset() and name.startswith("UTC")):
            return "Coordinated Universal Time"
        return name
    if name == "+00:00" or name == "UTC+00:00":
        return "Z"
    return name


def _field(value: dt.datetime, letter: str, count: int) -> str:
    if letter in "yu":
        year = value.year
        if count == 2:
            return f"{year % 100:02d}"
        return _pad(year, count)
    if letter in "ML":
        if count <= 2:
            return _pad(value.month, count)
        return _text(_MONTHS[value.month - 1], count)
    if letter == "d":
        return _pad(value.day, count)
    if letter == "H":
        return _pad(value.hour, count)
    if letter == "m":
        return _pad(value.minute, count)
    if letter == "s":
        return _pad(value.second, count)
    if letter == "S":
        return f"{value.microsecond * 1000:09d}"[:count]
    if letter == "E":
        return _text(_DAYS[value.weekday()], count)
    if letter == "a":
        return "AM" if value.hour < 12 else "PM"
    if letter == "h":
        return _pad(value.hour % 12 or 12, count)
    if letter == "K":
        return _pad(value.hour % 12, count)
    if letter == "k":
        return _pad(value.hour or 24, count)
    if letter == "D":
        return _pad(value.timetuple().tm_yday, count)
    if letter in "XxZO":
        return _offset(value, letter, count)
    if letter == "V":
        return zone_id(value)
    if letter in "zv":
        return _zone_name(value, count)
    if letter == "G":
        return "AD" if count <= 3 else ("Anno Domini" if count == 4 else "A")
    if letter in "Qq":
        quarter = (value.month - 1) // 3 + 1
        if count <= 2:
            return _pad(quarter, count)
        if count == 3:
            return f"Q{quarter}"
        if count == 4:
            return f"{quarter}{('st', 'nd', 'rd', 'th')[quarter - 1]} quarter"
        return str(quarter)
    if letter in "ec":
        if count <= 2:
            return _pad((value.weekday() + 1) % 7 + 1, count)
        return _text(_DAYS[value.weekday()], count)
    if letter == "Y":
        year, _week = _us_week_based(value.date())
        return f"{year % 100:02d}" if count == 2 else _pad(year, count)
    if letter == "w":
        return _pad(_us_week_based(value.date())[1], count)
    if letter == "W":
        first = value.replace(day=1).date()
        offset = (first.weekday() + 1) % 7
        return str((value.day + offset - 1) // 7 + 1)
    if letter == "F":
        return str((value.day - 1) // 7 + 1)
    if letter == "A":
        millis = (value.hour * 3600 + value.minute * 60 + value.second) * 1000
        return _pad(millis + value.microsecond // 1000, count)
    if letter == "n":
        return _pad(value.microsecond * 1000, count)
    if letter == "N":
        nanos = (value.hour * 3600 + value.minute * 60 + value.second) * 10**9
        return _pad(nanos + value.microsecond * 1000, count)
    if letter == "B":
        hour = value.hour
        if hour < 6:
            return "at night"
        if hour < 12:
            return "in the morning"
        if hour < 18:
            return "in the afternoon"
        return "in the evening"
    raise DateError(f"Unsupported pattern letter: {letter}")


def format_pattern(value: dt.datetime, pattern: str) -> str:
    """Format an aware datetime with a Java `DateTimeFormatter.ofPattern` pattern."""
    parts: list[str] = []
    for kind, text, count in _tokenize(pattern):
        if kind == "lit":
            parts.append(text)
        elif kind == "field":
            parts.append(_field(value, text, count))
        # optional sections print their content: every field of a zoned value is available
    return "".join(parts)


# -- named formats --------------------------------------------------------------------------


def _frac_nanos(value: dt.datetime) -> str:
    """ISO fraction (Java `appendFraction(NANO, 0, 9, true)`): shortest, may be empty."""
    if not value.microsecond:
        return ""
    return "." + f"{value.microsecond:06d}".rstrip("0")


def _iso_local_time(value: dt.datetime) -> str:
    return f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}{_frac_nanos(value)}"


def _iso_local_date(value: dt.datetime) -> str:
    return f"{_pad(value.year, 4)}-{value.month:02d}-{value.day:02d}"


def _region(value: dt.datetime) -> str:
    return f"[{value.tzinfo.key}]" if isinstance(value.tzinfo, ZoneInfo) else ""


def _iso_instant(value: dt.datetime) -> str:
    utc = value.astimezone(UTC)
    micros = utc.microsecond
    frac = (
        "" if not micros else (f".{micros // 1000:03d}" if micros % 1000 == 0 else f".{micros:06d}")
    )
    return f"{_iso_local_date(utc)}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}{frac}Z"


def _rfc_1123(value: dt.datetime) -> str:
    offset = int((value.utcoffset() or dt.timedelta(0)).total_seconds())
    zone = "GMT" if offset == 0 else _offset_digits(offset, 2, zero=None)
    return (
        f"{_DAYS[value.weekday()][:3]}, {value.day} {_MONTHS[value.month - 1][:3]} "
        f"{value.year} {value.hour:02d}:{value.minute:02d}:{value.second:02d} {zone}"
    )


def _iso_week_date(value: dt.datetime) -> str:
    year, week, weekday = value.isocalendar()
    return f"{_pad(year, 4)}-W{week:02d}-{weekday}{iso_offset(value.utcoffset())}"


_NAMED: dict[str, Callable[[dt.datetime], str]] = {
    "iso": lambda v: format_pattern(v, "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX"),
    "iso_sec": lambda v: format_pattern(v, "yyyy-MM-dd'T'HH:mm:ssXXX"),
    "sql": lambda v: format_pattern(v, "yyyy-MM-dd HH:mm:ss.SSSSSS"),
    "sql_seq": lambda v: format_pattern(v, "yyyy-MM-dd HH:mm:ss"),
    "iso_date_time": lambda v: (
        f"{_iso_local_date(v)}T{_iso_local_time(v)}{iso_offset(v.utcoffset())}{_region(v)}"
    ),
    "iso_date": lambda v: f"{_iso_local_date(v)}{iso_offset(v.utcoffset())}",
    "iso_time": lambda v: f"{_iso_local_time(v)}{iso_offset(v.utcoffset())}",
    "iso_local_date": _iso_local_date,
    "iso_instant": _iso_instant,
    "iso_local_date_time": lambda v: f"{_iso_local_date(v)}T{_iso_local_time(v)}",
    "iso_local_time": _iso_local_time,
    "iso_offset_time": lambda v: f"{_iso_local_time(v)}{iso_offset(v.utcoffset())}",
    "iso_offset_date_time": lambda v: (
        f"{_iso_local_date(v)}T{_iso_local_time(v)}{iso_offset(v.utcoffset())}"
    ),
    "iso_ordinal_date": lambda v: (
        f"{_pad(v.year, 4)}-{v.timetuple().tm_yday:03d}{iso_offset(v.utcoffset())}"
    ),
    "iso_week_date": _iso_week_date,
    "iso_zoned_date_time": lambda v: (
        f"{_iso_local_date(v)}T{_iso_local_time(v)}{iso_offset(v.utcoffset())}{_region(v)}"
    ),
    "rfc_1123_date_time": _rfc_1123,
}

# Java's localized styles for English (CLDR), used by `format='full'` etc.
_STYLES = {
    "short": "M/d/yy, h:mm a",
    "medium": "MMM d, y, h:mm:ss a",
    "long": "MMMM d, y 'at' h:mm:ss a z",
    "full": "EEEE, MMMM d, y 'at' h:mm:ss a zzzz",
}


def format_date(value: dt.datetime, fmt: str) -> str:
    """Format with a Kestra format name (`iso`, `sql`, `iso_date`, `full`…) or a Java pattern."""
    named = _NAMED.get(fmt)
    if named is not None:
        return named(value)
    style = _STYLES.get(fmt)
    if style is not None:
        return format_pattern(value, style)
    return format_pattern(value, fmt)


# -- parsing with a pattern -----------------------------------------------------------------

_NAMED_PARSE_AS_ISO = {
    "iso",
    "iso_sec",
    "iso_date_time",
    "iso_instant",
    "iso_local_date_time",
    "iso_offset_date_time",
    "iso_zoned_date_time",
    "iso_local_date",
    "iso_date",
}
_NAMED_PATTERNS = {
    "sql": "yyyy-MM-dd HH:mm:ss[.SSSSSS]",
    "sql_seq": "yyyy-MM-dd HH:mm:ss",
}
_MONTH_LOOKUP = {name.lower(): i + 1 for i, name in enumerate(_MONTHS)} | {
    name[:3].lower(): i + 1 for i, name in enumerate(_MONTHS)
}


def _field_regex(letter: str, count: int, index: int) -> str:
    group = f"f{index}"
    if letter in "yuY":
        return (
            rf"(?P<{group}>[+-]?\d{{2}})"
            if count == 2
            else rf"(?P<{group}>[+-]?\d{{{max(count, 1)},9}})"
        )
    if letter in "ML" and count >= 3:
        return rf"(?P<{group}>[A-Za-z]+)"
    if letter in "MdHhKkmsDQqwWeF":
        return rf"(?P<{group}>\d{{{count},{max(count, 2) if letter != 'D' else 3}}})"
    if letter == "S":
        return rf"(?P<{group}>\d{{{count}}})"
    if letter in "nNA":
        return rf"(?P<{group}>\d+)"
    if letter == "a":
        return rf"(?P<{group}>[AaPp][Mm])"
    if letter in "Ec" and count >= 3:
        return rf"(?P<{group}>[A-Za-z]+)"
    if letter in "XxZO":
        return rf"(?P<{group}>Z|GMT|UTC|(?:GMT|UTC)?[+-]\d{{1,2}}(?::?\d{{2}}(?::?\d{{2}})?)?)"
    if letter in "Vzv":
        return rf"(?P<{group}>[A-Za-z][A-Za-z0-9_/+\-]*)"
    if letter == "G":
        return rf"(?P<{group}>[A-Za-z ]+)"
    raise DateError(f"Unsupported pattern letter for parsing: {letter}")


@functools.lru_cache(maxsize=256)
def _compile_parser(pattern: str) -> tuple[re.Pattern[str], tuple[tuple[str, str, int], ...]]:
    regex: list[str] = []
    fields: list[tuple[str, str, int]] = []
    for kind, text, count in _tokenize(pattern):
        if kind == "lit":
            regex.append(re.escape(text))
        elif kind == "opt":
            regex.append("(?:")
        elif kind == "end":
            regex.append(")?")
        else:
            index = len(fields)
            fields.append((f"f{index}", text, count))
            regex.append(_field_regex(text, count, index))
    return re.compile("^" + "".join(regex) + "$"), tuple(fields)


def parse_with_format(text: str, fmt: str, zone: dt.tzinfo) -> dt.datetime:
    """Parse `text` with a Kestra format name or Java pattern (`existingFormat`)."""
    if fmt in _NAMED_PARSE_AS_ISO:
        return parse_iso(text, zone)
    pattern = _NAMED_PATTERNS.get(fmt, fmt)
    regex, fields = _compile_parser(pattern)
    match = regex.match(text)
    if not match:
        raise DateError(f"Text '{text}' could not be parsed with pattern '{fmt}'")
    values: dict[str, Any] = {}
    for group, letter, count in fields:
        raw = match[group]
        if raw is None:
            continue
        if letter in "yuY":
            year = int(raw)
            values["year"] = 2000 + year if count == 2 else year
        elif letter in "ML":
            values["month"] = int(raw) if raw.isdigit() else _month_number(raw, text)
        elif letter == "d":
            values["day"] = int(raw)
        elif letter in "Hk":
            values["hour"] = int(raw) % 24
        elif letter in "hK":
            values["hour12"] = int(raw) % 12
        elif letter == "a":
            values["pm"] = raw.upper() == "PM"
        elif letter == "m":
            values["minute"] = int(raw)
        elif letter == "s":
            values["second"] = int(raw)
        elif letter == "S":
            values["micro"] = int(raw.ljust(9, "0")[:6])
        elif letter == "D":
            values["yday"] = int(raw)
        elif letter in "XxZO":
            values["zone"] = UTC if raw in ("Z", "GMT", "UTC") else resolve_zone(raw)
        elif letter in "Vzv":
            values["zone"] = resolve_zone(raw)
    return _build(values, text, zone)


def _month_number(name: str, text: str) -> int:
    number = _MONTH_LOOKUP.get(name.lower())
    if number is None:
        raise DateError(f"Text '{text}' could not be parsed: unknown month '{name}'")
    return number


def _build(values: dict[str, Any], text: str, zone: dt.tzinfo) -> dt.datetime:
    if "year" not in values:
        raise DateError(f"Text '{text}' could not be parsed: no year")
    try:
        if "yday" in values and "month" not in values:
            day = dt.date(values["year"], 1, 1) + dt.timedelta(days=values["yday"] - 1)
        else:
            if "month" not in values or "day" not in values:
                raise DateError(f"Text '{text}' could not be parsed: incomplete date")
            day = dt.date(values["year"], values["month"], values["day"])
        hour = values.get("hour")
        if hour is None and "hour12" in values:
            hour = values["hour12"] + (12 if values.get("pm") else 0)
        if hour is None:
            local = dt.datetime.combine(day, dt.time(0, 0))
        else:
            local = dt.datetime.combine(
                day,
                dt.time(
                    hour, values.get("minute", 0), values.get("second", 0), values.get("micro", 0)
                ),
            )
    except ValueError as exc:
        raise DateError(f"Text '{text}' could not be parsed: {exc}") from exc
    parsed_zone = values.get("zone")
    if parsed_zone is None:
        return local.replace(tzinfo=zone)
    return local.replace(tzinfo=parsed_zone).astimezone(zone)


# -- arithmetic -----------------------------------------------------------------------------

_TIME_UNITS = {
    "NANOS": dt.timedelta(0),  # handled apart: Python has no nanoseconds
    "MICROS": dt.timedelta(microseconds=1),
    "MILLIS": dt.timedelta(milliseconds=1),
    "SECONDS": dt.timedelta(seconds=1),
    "MINUTES": dt.timedelta(minutes=1),
    "HOURS": dt.timedelta(hours=1),
    "HALF_DAYS": dt.timedelta(hours=12),
}
_MONTH_UNITS = {"MONTHS": 1, "YEARS": 12, "DECADES": 120, "CENTURIES": 1200, "MILLENNIA": 12000}


def add(value: dt.datetime, amount: int, unit: str) -> dt.datetime:
    """`ZonedDateTime.plus(amount, ChronoUnit.<unit>)`.

    Time units move the instant; DAYS/WEEKS move the local date-time (a day stays a calendar
    day across DST); MONTHS and longer clamp to the month's last day, as Java does.
    """
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise DateError(f"dateAdd amount must be an integer, got '{amount}'")
    zone = value.tzinfo
    assert zone is not None
    if unit in _TIME_UNITS:
        if unit == "NANOS":
            delta = dt.timedelta(microseconds=amount // 1000)
        else:
            delta = _TIME_UNITS[unit] * amount
        return (value.astimezone(UTC) + delta).astimezone(zone)
    local = value.replace(tzinfo=None)
    if unit in ("DAYS", "WEEKS"):
        local = local + dt.timedelta(days=amount * (7 if unit == "WEEKS" else 1))
    elif unit in _MONTH_UNITS:
        months = local.year * 12 + (local.month - 1) + amount * _MONTH_UNITS[unit]
        year, month0 = divmod(months, 12)
        if not 1 <= year <= 9999:
            raise DateError("dateAdd result is out of the supported date range")
        day = min(local.day, calendar.monthrange(year, month0 + 1)[1])
        local = local.replace(year=year, month=month0 + 1, day=day)
    else:
        raise DateError(f"No enum constant java.time.temporal.ChronoUnit.{unit}")
    return local.replace(tzinfo=zone)


def epoch(value: dt.datetime, scale: int) -> int:
    """Epoch of an aware datetime in seconds (scale 1), millis (1e3), micros (1e6), nanos (1e9)."""
    delta = value - dt.datetime(1970, 1, 1, tzinfo=UTC)
    micros = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    if scale >= 1_000_000:
        return micros * (scale // 1_000_000)
    return micros // (1_000_000 // scale)
