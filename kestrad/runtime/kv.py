"""KV values: Kestra's typed values, their JSON form in the store, and the `kv()` function.

The `kv()` expression function runs inside a synchronous render, where no database call
can be awaited (the render may even run inside the executor's pure `advance`). So it reads
an in-memory mirror of the whole `kv` table instead: loaded once at start, updated in
place by every write made through `TaskServices`, and reloaded when the table's stamp
(row count, latest write) shows that another writer (`kestrad kv set`, another daemon)
changed it. The table is small, and a stale read lasts at most one refresh interval; the
`kv.Get` task never uses the mirror and always reads the store.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from jinja2.exceptions import UndefinedError

from kestrad.model.durations import DurationError, format_duration, parse_duration
from kestrad.store.base import KVEntry

KV_TYPES = ("STRING", "NUMBER", "BOOLEAN", "DATETIME", "DATE", "DURATION", "JSON")


class KVError(ValueError):
    """A value that does not fit its declared `kvType`, or a bad key."""


class KVMissing(UndefinedError):
    """A missing key in `kv()` with `errorOnMissing`.

    An UndefinedError on purpose: Kestra's `??` recovers from it (`kv('k').f ?? null`),
    exactly as it does for an unknown variable, while a bare `kv('k')` fails the render
    with this message.
    """


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


class KVMirror:
    """Every KV row in memory, for the synchronous `kv()` function."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], KVEntry] = {}
        self.stamp: tuple[int, float] | None = None

    def replace_all(self, entries: Iterable[KVEntry], stamp: tuple[int, float]) -> None:
        self._entries = {(e.namespace, e.key): e for e in entries}
        self.stamp = stamp

    def put(self, entry: KVEntry) -> None:
        self._entries[(entry.namespace, entry.key)] = entry

    def remove(self, namespace: str, key: str) -> None:
        self._entries.pop((namespace, key), None)

    def get(self, namespace: str, key: str, now: float | None = None) -> KVEntry | None:
        entry = self._entries.get((namespace, key))
        if entry is None or entry.expired(time.time() if now is None else now):
            return None
        return entry


def kv_function(mirror: Callable[[], KVMirror]) -> Callable[..., Any]:
    """`kv(key, namespace=None, errorOnMissing=true)`, as Kestra's KvFunction.

    Without `namespace` the flow's namespace is searched first, then each parent
    namespace (`a.b.c`, `a.b`, `a`); with one, only that namespace.
    """

    def kv(
        context: Mapping[str, Any],
        key: Any = None,
        namespace: Any = None,
        errorOnMissing: Any = True,
    ) -> Any:
        from kestrad.expr.functions import FunctionError

        if not isinstance(key, str) or not key:
            raise FunctionError("The 'kv' function expects an argument 'key'.")
        flow = context.get("flow")
        flow_namespace = flow.get("namespace") if isinstance(flow, Mapping) else None
        if namespace is None and not isinstance(flow_namespace, str):
            raise FunctionError("`kv` needs a namespace outside of a flow")
        candidates = [str(namespace)] if namespace is not None else _lineage(flow_namespace)
        for candidate in candidates:
            entry = mirror().get(candidate, key)
            if entry is not None:
                return decode_value(entry)
        if errorOnMissing is None or errorOnMissing is True:
            where = namespace if namespace is not None else flow_namespace
            raise KVMissing(f"The key '{key}' does not exist in the namespace '{where}'.")
        return None

    return kv


def _lineage(namespace: str) -> list[str]:
    parts = namespace.split(".")
    return [".".join(parts[:n]) for n in range(len(parts), 0, -1)]
