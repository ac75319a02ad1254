"""How values become text, the way Kestra (Java, Pebble, Jackson) writes them.

Flows are written against Kestra's output, so a rendered value must read the same here:
`{{ 1.0 }}` is `1.0`, `{{ true }}` is `true`, a map is compact JSON as Jackson writes it,
an instant is ISO-8601 with `Z`. Python's `str()`/`json.dumps` differ on every one of these
(`True`, `1e+16`, `{'a': 1}`, `+00:00`), hence this module.

Three spellings exist in Kestra and are kept apart:
- `output_string`: what `{{ x }}` prints (null is empty, containers are JSON);
- `to_json`: Jackson's compact JSON (the `json`/`toJson` filters and container output);
- `java_str`: Java's `toString()`/`String.valueOf`, used by string concatenation and by
  filters that call `toString()` on their input (`{a=1}` for a map, `null` for null).
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any, NamedTuple


class Entry(NamedTuple):
    """A map entry, as Pebble yields when a `for` loop walks a map (`entry.key`, `entry.value`).

    A named tuple so that `{% for k, v in map %}` unpacks it too.
    """

    key: Any
    value: Any


# -- numbers --------------------------------------------------------------------------------


def java_double(value: float) -> str:
    """Java's `Double.toString`: `1.0`, `0.001`, `1.0E7`, `1.0E-4`, `NaN`, `Infinity`.

    Python's `repr` already yields the shortest round-tripping digits (as Java 19+ does);
    only the layout differs: Java switches to `d.dddE±n` outside [1e-3, 1e7).
    """
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0.0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign, digit_tuple, exponent = Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int)
    raw = "".join(map(str, digit_tuple))
    digits = raw.rstrip("0") or "0"
    exponent += len(raw) - len(digits)
    # value == int(digits) * 10**exponent; `sci` is the weight of the first digit
    sci = len(digits) - 1 + exponent
    prefix = "-" if sign else ""
    if -3 <= sci < 7:
        if sci >= 0:
            whole = digits[: sci + 1].ljust(sci + 1, "0")
            fraction = digits[sci + 1 :] or "0"
        else:
            whole = "0"
            fraction = "0" * (-sci - 1) + digits
        return f"{prefix}{whole}.{fraction}"
    return f"{prefix}{digits[0]}.{digits[1:] or '0'}E{sci}"


# -- dates ----------------------------------------------------------------------------------


def _fraction(micros: int) -> str:
    """Fraction of second as Java's ISO formatters print it: nothing, 3 or 6 digits."""
    if micros == 0:
        return ""
    if micros % 1000 == 0:
        return f".{micros // 1000:03d}"
    return f".{micros:06d}"


def iso_offset(offset: dt.timedelta | None) -> str:
    """An offset as Java's `XXX`/offset id: `Z` for zero, else `+01:00` (seconds if any)."""
    if offset is None or not offset:
        return "Z"
    total = int(offset.total_seconds())
    sign = "+" if total >= 0 else "-"
    total = abs(total)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}{hours:02d}:{minutes:02d}"
    return f"{text}:{seconds:02d}" if seconds else text


def iso_datetime(value: dt.datetime) -> str:
    """ISO-8601 as Kestra prints instants and zoned date-times.

    Aware values get `Z` (zero offset, Java `Instant`) or `+hh:mm`; naive ones print as a
    Java `LocalDateTime`. Seconds are always printed (unlike Java's quirky `toString`).
    """
    text = f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:{value.minute:02d}:{value.second:02d}{_fraction(value.microsecond)}"
    if value.tzinfo is None:
        return text
    return text + iso_offset(value.utcoffset())


def iso_time(value: dt.time) -> str:
    text = f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}{_fraction(value.microsecond)}"
    if value.tzinfo is None:
        return text
    return text + iso_offset(value.utcoffset())


def _temporal_string(value: dt.date | dt.time) -> str:
    if isinstance(value, dt.datetime):
        return iso_datetime(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return iso_time(value)


# -- JSON (Jackson) -------------------------------------------------------------------------


def to_json(value: Any) -> str:
    """Compact JSON as Jackson writes it: no spaces, non-ASCII kept, Java number layout."""
    parts: list[str] = []
    _encode(value, parts.append, 0)
    return "".join(parts)


_MAX_DEPTH = 500


def _encode(value: Any, emit: Callable[[str], object], depth: int) -> None:
    kind = type(value)
    if kind is str:
        emit(encode_basestring(value))
    elif value is None:
        emit("null")
    elif kind is bool:
        emit("true" if value else "false")
    elif kind is int:
        emit(int.__repr__(value))
    elif kind is float:
        emit(java_double(value))
    elif isinstance(value, Mapping):
        if depth > _MAX_DEPTH:
            raise ValueError("value too deeply nested to be written as JSON")
        emit("{")
        first = True
        for key, item in value.items():
            if not first:
                emit(",")
            first = False
            emit(encode_basestring(key if type(key) is str else java_str(key)))
            emit(":")
            _encode(item, emit, depth + 1)
        emit("}")
    elif isinstance(value, list | tuple | set | frozenset | range) and not isinstance(value, Entry):
        if depth > _MAX_DEPTH:
            raise ValueError("value too deeply nested to be written as JSON")
        emit("[")
        first = True
        for item in value:
            if not first:
                emit(",")
            first = False
            _encode(item, emit, depth + 1)
        emit("]")
    else:
        _encode_scalar(value, emit, depth)


def _encode_scalar(value: Any, emit: Callable[[str], object], depth: int) -> None:
    if isinstance(value, bool):
        emit("true" if value else "false")
    elif isinstance(value, int):
        emit(int.__repr__(value))
    elif isinstance(value, float):
        emit(java_double(value))
    elif isinstance(value, str):
        emit(encode_basestring(str(value)))
    elif isinstance(value, Decimal):
        emit(str(value) if value.is_finite() else encode_basestring(str(value)))
    elif isinstance(value, dt.date | dt.time):
        emit(encode_basestring(_temporal_string(value)))
    elif isinstance(value, Entry):
        # Jackson writes a Map.Entry as a one-key object
        emit("{")
        emit(encode_basestring(java_str(value.key)))
        emit(":")
        _encode(value.value, emit, depth + 1)
        emit("}")
    elif isinstance(value, bytes | bytearray | memoryview):
        emit(encode_basestring(base64.b64encode(bytes(value)).decode("ascii")))
    elif isinstance(value, dt.timedelta):
        emit(encode_basestring(java_duration(value)))
    else:
        emit(encode_basestring(str(value)))


def java_duration(value: dt.timedelta) -> str:
    """Java `Duration.toString` (`PT1H30M`, `PT0.5S`), which is how Kestra prints durations."""
    total_micros = (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
    if total_micros == 0:
        return "PT0S"
    sign = "-" if total_micros < 0 else ""
    total_micros = abs(total_micros)
    seconds, micros = divmod(total_micros, 1_000_000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    text = "PT"
    if hours:
        text += f"{sign}{hours}H"
    if minutes:
        text += f"{sign}{minutes}M"
    if seconds or micros:
        frac = f"{micros:06d}".rstrip("0")
        text += f"{sign}{seconds}" + (f".{frac}" if frac else "") + "S"
    return text


# -- Java toString --------------------------------------------------------------------------


def java_str(value: Any) -> str:
    """Java's `String.valueOf(value)`: `null`, `true`, `1.0`, `{a=1, b=[1, 2]}`."""
    kind = type(value)
    if kind is str:
        return value
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        return java_double(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{java_str(k)}={java_str(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Entry):
        return f"{java_str(value.key)}={java_str(value.value)}"
    if isinstance(value, list | tuple | set | frozenset | range):
        return "[" + ", ".join(java_str(item) for item in value) + "]"
    if isinstance(value, dt.date | dt.time):
        return _temporal_string(value)
    if isinstance(value, dt.timedelta):
        return java_duration(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return java_double(value)
    return str(value)


def output_string(value: Any) -> str:
    """What `{{ value }}` prints in Kestra: null is empty, maps and lists are JSON."""
    kind = type(value)
    if kind is str:
        return value
    if value is None:
        return ""
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        return java_double(value)
    if kind is dict or kind is list:
        return to_json(value)
    if isinstance(value, Mapping) or (
        isinstance(value, list | tuple | set | frozenset | range) and not isinstance(value, Entry)
    ):
        return to_json(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return java_str(value)
