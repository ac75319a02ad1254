"""Parsing and checking one input value by its declared type (KESTRA-SPEC §1.2).

Values arrive either as text (CLI `-i name=Ada`, HTTP forms, webhook query strings) or as
native JSON values (JSON API, YAML defaults). Text is parsed the way Kestra's Java parsers
read it; native values are accepted when they already have the right type. Results are
always JSON-serializable: dates, times and durations become their ISO-8601 text.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from io import StringIO
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from kestrad.model.durations import DurationError, format_duration, parse_duration
from kestrad.model.encryption import EncryptionError, encrypt
from kestrad.model.flow import Input

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
# Kestra's URI check (FlowInputOutput.URI_PATTERN): a scheme, a host with a dot, a path.
URI_PATTERN = re.compile(
    r"^[a-z]+://(?:www\.)?[-a-zA-Z0-9@:%._+~#=]{1,256}\.[a-zA-Z0-9()]{1,6}\b"
    r"(?:[-a-zA-Z0-9()@:%_+.~#?&/=]*)$"
)
EMAIL_PATTERN = re.compile(r"^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$")
_INT_TEXT = re.compile(r"^[+-]?\d+$")
_FLOAT_TEXT = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_DATETIME_TEXT = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)$",
    re.IGNORECASE,
)
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME_TEXT = re.compile(r"^\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?$")
_FRACTION = re.compile(r"\.(\d{7,9})")
KESTRA_URI = "kestra://"
SECRET_MASK = "******"


class InvalidValue(ValueError):
    """Why a value does not fit its input; the message completes "Invalid input for `x`, …"."""


class Options:
    """What parsing may need beyond the input: allowed values, the encryption key."""

    __slots__ = ("secret_key", "values")

    def __init__(self, *, values: list[str] | None = None, secret_key: str | None = None) -> None:
        self.values = values
        self.secret_key = secret_key


def parse_value(item: Input, value: Any, options: Options) -> Any:
    """The typed, JSON-serializable value of `item` for `value`, or InvalidValue."""
    parser = _PARSERS.get(item.type)
    if parser is None:
        raise InvalidValue(f"unsupported input type `{item.type}`")
    return parser(item, value, options)


def parse_scalar(kind: str, value: Any) -> Any:
    """Parse one value as a bare type (array items): no bounds, no allowed values."""
    return parse_value(Input(id="item", type=kind), value, Options())


# -- text-like ------------------------------------------------------------------------------


def value_text(value: Any) -> str:
    """A scalar as the text Kestra would compare (`true`, `3`); other values as JSON."""
    if isinstance(value, str | bool | int | float):
        return _text("STRING", value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _text(kind: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise InvalidValue(f"it must be a `{kind}`")


def _string(item: Input, value: Any, options: Options) -> str:
    text = _text("STRING", value)
    _check_validator(item, text)
    return text


def _check_validator(item: Input, text: str) -> None:
    if item.validator is not None and re.fullmatch(item.validator, text) is None:
        raise InvalidValue(f"it must match the pattern `{item.validator}`")


def _java_list(values: list[str]) -> str:
    return "[" + ", ".join(values) + "]"


def _choice(item: Input, value: Any, options: Options) -> str:
    text = _text(item.type, value)
    allowed = options.values if options.values is not None else _strings(item.values)
    if not item.allow_custom_value and text not in allowed:
        raise InvalidValue(f"it must match the values `{_java_list(allowed)}`")
    return text


def _multiselect(item: Input, value: Any, options: Options) -> list[Any]:
    items = _json_list(value, "MULTISELECT")
    allowed = options.values
    if allowed is None:
        allowed = _strings(item.values if item.values is not None else item.options)
    out: list[Any] = []
    for element in items:
        text = _text("STRING", element)
        if not item.allow_custom_value and text not in allowed:
            raise InvalidValue(f"value `{text}` is not one of the values `{_java_list(allowed)}`")
        if item.item_type not in (None, "STRING"):
            out.append(_element(item.item_type, element))
        else:
            out.append(text)
    return out


def _strings(values: list[Any] | None) -> list[str]:
    return [_text("STRING", v) for v in values or ()]


def _uri(item: Input, value: Any, options: Options) -> str:
    text = _text("URI", value)
    if not URI_PATTERN.match(text):
        raise InvalidValue("it must be a valid `URI`")
    return text


def _email(item: Input, value: Any, options: Options) -> str:
    text = _text("EMAIL", value)
    if not EMAIL_PATTERN.match(text):
        raise InvalidValue("it must be a valid email address")
    return text


def _secret(item: Input, value: Any, options: Options) -> str:
    text = _text("SECRET", value)
    _check_validator(item, text)
    if options.secret_key is None:
        raise InvalidValue("SECRET inputs need an encryption key, and none is configured")
    try:
        return encrypt(options.secret_key, text)
    except EncryptionError as exc:
        raise InvalidValue(f"cannot encrypt it: {exc}") from exc


def _file(item: Input, value: Any, options: Options) -> str:
    text = _text("FILE", value)
    if text.startswith(KESTRA_URI):
        return text
    raise InvalidValue("it must be a file (a multipart file part) or a `kestra:///` URI")


# -- numbers and booleans -------------------------------------------------------------------


def _int(item: Input, value: Any, options: Options) -> int:
    if isinstance(value, bool):
        raise InvalidValue("it must be a valid `INT`")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and _INT_TEXT.match(value):
        value = int(value)
    if not isinstance(value, int) or not INT_MIN <= value <= INT_MAX:
        raise InvalidValue("it must be a valid `INT`")
    _bounds(value, _number(item.min), _number(item.max), str(item.min), str(item.max))
    return value


def _float(item: Input, value: Any, options: Options) -> float:
    if isinstance(value, str) and _FLOAT_TEXT.match(value.strip()):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidValue("it must be a valid `FLOAT`")
    number = float(value)
    _bounds(number, _number(item.min), _number(item.max), str(item.min), str(item.max))
    return number


def _number(bound: Any) -> float | None:
    if bound is None or isinstance(bound, bool):
        return None
    if isinstance(bound, int | float):
        return bound
    try:
        return float(bound)
    except (TypeError, ValueError):
        return None


def _bounds(value: Any, low: Any, high: Any, low_text: str, high_text: str) -> None:
    if low is not None and value < low:
        raise InvalidValue(f"it must be more than `{low_text}`")
    if high is not None and value > high:
        raise InvalidValue(f"it must be less than `{high_text}`")


def _boolean(item: Input, value: Any, options: Options) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        # Java's Boolean.valueOf: "true" in any case is true, anything else false.
        return value.strip().lower() == "true"
    raise InvalidValue(f"it must be a valid `{item.type}`")


# -- dates, times, durations ----------------------------------------------------------------


def to_instant(value: Any) -> datetime:
    """An aware datetime from ISO-8601 text with `Z` or an offset (Java's Instant.parse)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidValue("it must be a valid `DATETIME` with a time zone offset")
        return value
    if not isinstance(value, str) or not _DATETIME_TEXT.match(value.strip()):
        raise InvalidValue("it must be a valid `DATETIME` (ISO-8601 with `Z` or an offset)")
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6], value.strip())
    text = text[:-1] + "+00:00" if text[-1] in "zZ" else text
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidValue(f"it must be a valid `DATETIME`: {exc}") from exc


def format_instant(value: datetime) -> str:
    """Java's Instant.toString: UTC, `Z`, fraction only when non-zero (3 or 6 digits)."""
    utc = value.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    micro = utc.microsecond
    if micro:
        text += f".{micro // 1000:03d}" if micro % 1000 == 0 else f".{micro:06d}"
    return text + "Z"


def _datetime(item: Input, value: Any, options: Options) -> str:
    instant = to_instant(value)
    low = to_instant(item.after) if item.after is not None else None
    high = to_instant(item.before) if item.before is not None else None
    _order(instant, low, high, item)
    return format_instant(instant)


def to_date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATE_TEXT.match(value.strip()):
        raise InvalidValue("it must be a valid `DATE` (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise InvalidValue(f"it must be a valid `DATE`: {exc}") from exc


def _date(item: Input, value: Any, options: Options) -> str:
    day = to_date(value)
    low = to_date(item.after) if item.after is not None else None
    high = to_date(item.before) if item.before is not None else None
    _order(day, low, high, item)
    return day.isoformat()


def to_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    if not isinstance(value, str) or not _TIME_TEXT.match(value.strip()):
        raise InvalidValue("it must be a valid `TIME` (HH:MM or HH:MM:SS)")
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6], value.strip())
    try:
        return time.fromisoformat(text)
    except ValueError as exc:
        raise InvalidValue(f"it must be a valid `TIME`: {exc}") from exc


def _time(item: Input, value: Any, options: Options) -> str:
    moment = to_time(value)
    low = to_time(item.after) if item.after is not None else None
    high = to_time(item.before) if item.before is not None else None
    _order(moment, low, high, item)
    return moment.isoformat()


def _order(value: Any, low: Any, high: Any, item: Input) -> None:
    if low is not None and value < low:
        raise InvalidValue(f"it must be after `{item.after}`")
    if high is not None and value > high:
        raise InvalidValue(f"it must be before `{item.before}`")


def to_duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise InvalidValue("it must be a valid `DURATION` (ISO-8601, e.g. PT5M)")
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise InvalidValue("it must be a valid `DURATION` (ISO-8601, e.g. PT5M)") from exc


def _duration(item: Input, value: Any, options: Options) -> str:
    duration = to_duration(value)
    low = to_duration(item.min) if item.min is not None else None
    high = to_duration(item.max) if item.max is not None else None
    _bounds(duration, low, high, str(item.min), str(item.max))
    return format_duration(duration)


# -- structured -----------------------------------------------------------------------------


def _json(item: Input, value: Any, options: Options) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise InvalidValue(f"it must be valid `JSON`: {exc}") from exc
    if value is None or isinstance(value, dict | list | int | float | bool):
        return value
    raise InvalidValue("it must be valid `JSON`")


def _yaml(item: Input, value: Any, options: Options) -> Any:
    if not isinstance(value, str):
        return _json_safe(value)
    try:
        return _json_safe(YAML(typ="safe", pure=True).load(StringIO(value)))
    except YAMLError as exc:
        raise InvalidValue(f"it must be valid `YAML`: {' '.join(str(exc).split())}") from exc


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, datetime):
        return format_instant(value) if value.tzinfo else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value


def _json_list(value: Any, kind: str) -> list[Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise InvalidValue(f"it must be a JSON array for `{kind}`") from exc
    if not isinstance(value, list):
        raise InvalidValue(f"it must be a JSON array for `{kind}`")
    return value


def _element(kind: str, element: Any) -> Any:
    try:
        return parse_scalar(kind, element)
    except InvalidValue as exc:
        raise InvalidValue(
            f"unable to parse array element as `{kind}` on `{element}`: {exc}"
        ) from exc


def _array(item: Input, value: Any, options: Options) -> list[Any]:
    items = _json_list(value, "ARRAY")
    kind = item.item_type or "STRING"
    return [_element(kind, element) for element in items]


_PARSERS: dict[str, Callable[[Input, Any, Options], Any]] = {
    "STRING": _string,
    "ENUM": _choice,
    "SELECT": _choice,
    "MULTISELECT": _multiselect,
    "INT": _int,
    "FLOAT": _float,
    "BOOLEAN": _boolean,
    "BOOL": _boolean,
    "DATETIME": _datetime,
    "DATE": _date,
    "TIME": _time,
    "DURATION": _duration,
    "FILE": _file,
    "JSON": _json,
    "YAML": _yaml,
    "URI": _uri,
    "EMAIL": _email,
    "SECRET": _secret,
    "ARRAY": _array,
}
