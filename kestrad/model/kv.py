"""KV values: Kestra's typed values (`kvType`), their JSON text in the store, and TTLs.

Plain conversions with no I/O, shared by the KV tasks, the `kv()` function's mirror, the
API and `kestrad kv`, so a value set through any of them reads back the same everywhere.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from kestrad.model.durations import DurationError, format_duration, parse_duration
from kestrad.model.records import KVEntry

KV_TYPES = ("STRING", "NUMBER", "BOOLEAN", "DATETIME", "DATE", "DURATION", "JSON")


class KVError(ValueError):
    """A value that does not fit its declared `kvType`, or a bad key."""


def check_key(key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise KVError("a KV key must be a non-empty string")
    return key


def encode_value(value: Any, kv_type: str | None) -> tuple[str, str]:
    """The (JSON text, type) stored for a rendered value and its optional `kvType`.

    As in Kestra, `kvType` converts a *string* value (`"42"` with NUMBER is 42); a value
    that is already typed is kept and its type inferred.
    """
    if kv_type is not None:
        kv_type = kv_type.upper()
        if kv_type not in KV_TYPES:
            raise KVError(f"unknown kvType `{kv_type}` (expected one of {', '.join(KV_TYPES)})")
    if kv_type is not None and isinstance(value, str):
        value = _convert(value, kv_type)
    else:
        kv_type = infer_type(value)
    return json.dumps(value, default=_json_default, ensure_ascii=False), kv_type


def infer_type(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int | float):
        return "NUMBER"
    if isinstance(value, datetime):
        return "DATETIME"
    if isinstance(value, date):
        return "DATE"
    if isinstance(value, dict | list):
        return "JSON"
    return "STRING"


def _convert(text: str, kv_type: str) -> Any:
    try:
        if kv_type == "NUMBER":
            number = json.loads(text)
            if isinstance(number, bool) or not isinstance(number, int | float):
                raise ValueError(text)
            return number
        if kv_type == "BOOLEAN":
            return text.strip().lower() == "true"  # Java's Boolean.parseBoolean
        if kv_type == "DATETIME":
            return _instant(text)
        if kv_type == "DATE":
            return date.fromisoformat(text).isoformat() if len(text) == 10 else _instant(text)
        if kv_type == "DURATION":
            return format_duration(parse_duration(text))
        if kv_type == "JSON":
            return json.loads(text)
    except (ValueError, DurationError) as exc:
        raise KVError(f"`{text}` is not a valid {kv_type} value: {exc}") from None
    return text


def _instant(text: str) -> str:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def decode_value(entry: KVEntry) -> Any:
    return json.loads(entry.value)


def expiry(ttl: Any, now: float) -> float | None:
    """`expires_at` for an ISO-8601 `ttl` (None: never expires)."""
    if ttl is None or ttl == "":
        return None
    try:
        seconds = parse_duration(str(ttl)).total_seconds()
    except DurationError as exc:
        raise KVError(f"ttl: {exc}") from None
    if seconds <= 0:
        raise KVError(f"ttl must be positive, got `{ttl}`")
    return now + seconds
