"""`io.kestra.plugin.core.state.*`: small JSON state files kept between executions.

A state is a JSON map in internal storage, named by `name` (default `default`), kept per
flow or, with `namespace: true`, shared by the flows of the namespace; inside a loop it
is kept per `taskrun.value` unless `taskrunValue: false` (Kestra's AbstractState). The
file lives at `kestra:///<namespace as folders>/[<flow>/]states/tasks-states/[<value
hash>/]<name>`: under the flow's own namespace, so no flow reaches another namespace's
state, and `name` is one checked path segment.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import anyio

from kestrad.storage import StorageError, StorageURI
from kestrad.storage.uris import namespace_parts
from kestrad.tasks.base import RunnableTask, TaskFailed
from kestrad.tasks.context import RunContext
from kestrad.tasks.props import Bool, Map
from kestrad.tasks.registry import register

_CORE = "io.kestra.plugin.core.state."
_LEGACY = "io.kestra.core.tasks.states."
_FOLDER = "tasks-states"


class _State(RunnableTask, kw_only=True):
    """Properties every state task shares."""

    name: str = "default"
    namespace: Bool = False
    taskrun_value: Bool = True

    def state_uri(self, ctx: RunContext) -> StorageURI:
        flow = ctx.variables["flow"]
        name = ctx.render(self.name)
        if not isinstance(name, str) or not name:
            raise TaskFailed("`name` must render to a non-empty string")
        parts = list(namespace_parts(flow["namespace"]))
        if not ctx.boolean(self.namespace, "namespace"):
            parts.append(flow["id"])
        parts += ["states", _FOLDER]
        value = (ctx.variables.get("taskrun") or {}).get("value")
        if value is not None and ctx.boolean(self.taskrun_value, "taskrunValue"):
            parts.append(hashlib.sha256(str(value).encode()).hexdigest()[:32])
        try:
            return StorageURI((*parts, name))
        except StorageError as exc:
            raise TaskFailed(f"`name`: {exc}") from None


async def _read(ctx: RunContext, uri: StorageURI) -> dict[str, Any] | None:
    """The state's map, or None when there is no state file."""
    storage = ctx.storage
    if not await anyio.to_thread.run_sync(storage.exists, uri):
        return None
    data = await anyio.to_thread.run_sync(storage.get, uri)
    try:
        value = json.loads(data)
    except ValueError:
        raise TaskFailed(f"the state file `{uri}` is not JSON") from None
    if not isinstance(value, dict):
        raise TaskFailed(f"the state file `{uri}` does not hold a map")
    return value


def merge(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Maps merged key by key, deeply; anything else in `update` replaces (MapUtils.merge)."""
    out = dict(current)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


@register(_CORE + "Get", _LEGACY + "Get")
class Get(_State, kw_only=True):
    """Reads a state: outputs `data` (the map) and `count` (its size); a missing state is
    an empty map, or an error with `errorOnMissing`."""

    error_on_missing: Bool = False

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        uri = self.state_uri(ctx)
        data = await _read(ctx, uri)
        if data is None:
            if ctx.boolean(self.error_on_missing, "errorOnMissing"):
                raise TaskFailed(f"the state `{ctx.render(self.name)}` does not exist")
            data = {}
        return {"count": len(data), "data": data}


@register(_CORE + "Set", _LEGACY + "Set")
class Set(_State, kw_only=True):
    """Merges the rendered `data` into a state (created when missing); outputs `count`
    (the merged map's size) and the state file's `uri`."""

    data: Map | None = None

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        uri = self.state_uri(ctx)
        update = ctx.render(ctx.mapping(self.data, "data"))
        merged = merge(await _read(ctx, uri) or {}, update)
        body = json.dumps(merged, ensure_ascii=False).encode()
        await anyio.to_thread.run_sync(ctx.storage.put, uri, body)
        return {"count": len(merged), "uri": str(uri)}


@register(_CORE + "Delete", _LEGACY + "Delete")
class Delete(_State, kw_only=True):
    """Deletes a state; outputs `deleted`; a missing state is an error only with
    `errorOnMissing`."""

    error_on_missing: Bool = False

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        uri = self.state_uri(ctx)
        deleted = await anyio.to_thread.run_sync(ctx.storage.delete, uri)
        if not deleted and ctx.boolean(self.error_on_missing, "errorOnMissing"):
            raise TaskFailed(f"the state `{ctx.render(self.name)}` does not exist")
        return {"deleted": deleted}
