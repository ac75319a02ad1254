"""Kestra's KV store API: `namespaces/{ns}/kv/{key}` set (PUT), get, delete; the keys of a
namespace with those it inherits from its parents; all keys by query filters.

A value is sent as the body's text: JSON when it parses (`42`, `true`, `{"a": 1}`,
`"quoted"`), else the text itself, its type inferred (Kestra's `KVController`); a `ttl`
header (ISO-8601 duration) makes it expire. Values are read and written through the
engine's services, as the KV tasks do.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kestrad.api.context import api
from kestrad.api.errors import ApiError
from kestrad.api.params import check_params, query_int, read_json, read_text
from kestrad.api.query_filters import parse_filters
from kestrad.api.responses import json_response
from kestrad.model.kv import KVError, decode_value
from kestrad.model.query import Op, Resource
from kestrad.model.records import KVEntry
from kestrad.runtime.flow_search import compare
from kestrad.store.filters import UnsupportedFilter

MAX_VALUE = 1024 * 1024


def _iso(epoch: float | None) -> str | None:
    if not epoch:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def entry_json(entry: KVEntry) -> dict[str, Any]:
    return {
        "namespace": entry.namespace,
        "key": entry.key,
        "description": entry.description,
        "creationDate": _iso(entry.updated),
        "updateDate": _iso(entry.updated),
        "expirationDate": _iso(entry.expires_at),
    }


def _where(request: Request) -> tuple[str, str]:
    return request.path_params["namespace"], request.path_params["key"]


async def set_value(request: Request) -> Response:
    check_params(request, set())
    ctx = api(request)
    namespace, key = _where(request)
    text = await read_text(request)
    if len(text) > MAX_VALUE:
        raise ApiError(413, f"A KV value is at most {MAX_VALUE} bytes")
    try:
        value: Any = json.loads(text)
    except ValueError:
        value = text
    try:
        await ctx.engine.services.kv_set(
            namespace,
            key,
            value,
            ttl=request.headers.get("ttl") or None,
            description=request.headers.get("description") or None,
        )
    except KVError as exc:
        raise ApiError(400, f"Invalid KV value or ttl: {exc}") from None
    return Response(status_code=204)


async def get_value(request: Request) -> Response:
    check_params(request, set())
    ctx = api(request)
    namespace, key = _where(request)
    entry = await ctx.engine.store.kv_get(namespace, key)
    if entry is None or entry.expired(time.time()):
        raise ApiError(404, f"No value found for key '{key}' in namespace '{namespace}'", key=key)
    return json_response({"type": entry.type, "value": decode_value(entry)})


async def delete_value(request: Request) -> Response:
    check_params(request, set())
    namespace, key = _where(request)
    deleted = await api(request).engine.services.kv_delete(namespace, key)
    return json_response(deleted)


async def delete_values(request: Request) -> Response:
    """`{"keys": [...]}`: the keys deleted of those given."""
    check_params(request, set())
    ctx = api(request)
    body = await read_json(request)
    keys = body.get("keys") if isinstance(body, dict) else None
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ApiError(400, 'The body must be {"keys": ["key", ...]}')
    namespace = request.path_params["namespace"]
    deleted = [k for k in keys if await ctx.engine.services.kv_delete(namespace, k)]
    return json_response({"keys": deleted})


async def _live(request: Request, namespace: str | None) -> list[KVEntry]:
    now = time.time()
    return [e for e in await api(request).engine.store.kv_list(namespace) if not e.expired(now)]


async def list_namespace(request: Request) -> Response:
    check_params(request, set())
    entries = await _live(request, request.path_params["namespace"])
    return json_response([entry_json(e) for e in sorted(entries, key=lambda e: e.key)])


async def with_inheritance(request: Request) -> Response:
    """The namespace's keys and those of each parent namespace (nearest first)."""
    check_params(request, set())
    namespace = request.path_params["namespace"]
    parts = namespace.split(".")
    out: list[dict[str, Any]] = []
    for size in range(len(parts), 0, -1):
        entries = await _live(request, ".".join(parts[:size]))
        out += [entry_json(e) for e in sorted(entries, key=lambda e: e.key)]
    return json_response(out)


async def search(request: Request) -> Response:
    """Every live key matching Kestra's filters (namespace, q), paged."""
    check_params(request, {"page", "size", "sort"})
    query = parse_filters(request.query_params.multi_items(), Resource.KV_METADATA)
    page = query_int(request, "page", 1, low=1, high=1_000_000)
    size = query_int(request, "size", 25, low=1, high=1000)
    chosen = []
    for entry in await _live(request, None):
        try:
            keep = all(_match(f.field, f.op, f.value, entry) for f in query.filters)
        except UnsupportedFilter as exc:
            raise ApiError(400, f"Invalid query filters: {exc}") from None
        if keep:
            chosen.append(entry)
    if query.groups:
        raise ApiError(400, "Invalid query filters: KV keys take no OR groups")
    chosen.sort(key=lambda e: (e.namespace, e.key))
    results = [entry_json(e) for e in chosen[(page - 1) * size : page * size]]
    return json_response({"results": results, "total": len(chosen)})


def _match(field: str, op: Op, value: Any, entry: KVEntry) -> bool:
    if field == "namespace":
        return compare(op, entry.namespace, value)
    if field == "q":
        return str(value).lower() in entry.key.lower()
    raise UnsupportedFilter(f"KV keys cannot be filtered on `{field}` by this server")
