"""`io.kestra.plugin.core.kv.*`: the namespace KV store (Set, Get, Delete, GetKeys).

The store itself is reached through `ctx.services`; these classes only render their
properties and apply Kestra's defaults (the flow's namespace, `overwrite` on, missing
keys not an error).
"""

from __future__ import annotations

from typing import Any, Protocol

from kestrad.expr.engine import truthy
from kestrad.model.kv import KVError
from kestrad.tasks.base import RunnableTask, TaskFailed
from kestrad.tasks.context import RunContext
from kestrad.tasks.props import Bool, Data, Duration
from kestrad.tasks.registry import register
from kestrad.tasks.services import ServiceError

_LEGACY = "io.kestra.core.tasks.kv."


class _Keyed(Protocol):
    """What the KV tasks share: the namespace (default: the flow's) and the key."""

    namespace: str | None
    key: Any


def _namespace(task: _Keyed, ctx: RunContext) -> str:
    if task.namespace is None:
        return ctx.variables["flow"]["namespace"]
    rendered = ctx.render(task.namespace)
    if not isinstance(rendered, str) or not rendered:
        raise TaskFailed("`namespace` must render to a non-empty string")
    return rendered


def _key(task: _Keyed, ctx: RunContext) -> str:
    rendered = ctx.render(task.key)
    if not isinstance(rendered, str) or not rendered:
        raise TaskFailed("`key` must render to a non-empty string")
    return rendered


def _flag(ctx: RunContext, value: Any) -> bool:
    rendered = ctx.render_typed(value) if isinstance(value, str) else value
    return rendered if isinstance(rendered, bool) else truthy(rendered)


@register("io.kestra.plugin.core.kv.Set", _LEGACY + "Set")
class Set(RunnableTask, kw_only=True):
    """Stores `value` (typed rendering: one `{{ expr }}` keeps its type) under `key`."""

    key: str
    value: Data
    namespace: str | None = None
    overwrite: Bool = True
    ttl: Duration | None = None
    kv_type: str | None = None
    kv_description: str | None = None

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        namespace, key = _namespace(self, ctx), _key(self, ctx)
        value = ctx.render_typed(self.value)
        kv_type = ctx.render(self.kv_type) if self.kv_type is not None else None
        try:
            await ctx.services.kv_set(
                namespace,
                key,
                value,
                kv_type=kv_type,
                ttl=ctx.render(self.ttl) if self.ttl is not None else None,
                overwrite=_flag(ctx, self.overwrite),
                description=ctx.render(self.kv_description) if self.kv_description else None,
            )
        except (KVError, ServiceError) as exc:
            raise TaskFailed(str(exc)) from None
        return None


@register("io.kestra.plugin.core.kv.Get", _LEGACY + "Get")
class Get(RunnableTask, kw_only=True):
    """Reads `key` into the output `value` (null when missing, unless `errorOnMissing`)."""

    key: str
    namespace: str | None = None
    error_on_missing: Bool = False

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        namespace, key = _namespace(self, ctx), _key(self, ctx)
        found, value = await ctx.services.kv_get(namespace, key)
        if not found and _flag(ctx, self.error_on_missing):
            raise TaskFailed(f"The key '{key}' does not exist in the namespace '{namespace}'.")
        return {"value": value}


@register("io.kestra.plugin.core.kv.Delete", _LEGACY + "Delete")
class Delete(RunnableTask, kw_only=True):
    """Deletes `key`; output `deleted` says whether it existed."""

    key: str
    namespace: str | None = None
    error_on_missing: Bool = False

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        namespace, key = _namespace(self, ctx), _key(self, ctx)
        deleted = await ctx.services.kv_delete(namespace, key)
        if not deleted and _flag(ctx, self.error_on_missing):
            raise TaskFailed(f"The key '{key}' does not exist in the namespace '{namespace}'.")
        return {"deleted": deleted}


@register("io.kestra.plugin.core.kv.GetKeys", _LEGACY + "GetKeys")
class GetKeys(RunnableTask, kw_only=True):
    """Lists the live keys of a namespace, optionally only those starting with `prefix`."""

    prefix: str | None = None
    namespace: str | None = None

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        namespace = _namespace(self, ctx)
        prefix = ctx.render(self.prefix) if self.prefix is not None else None
        return {"keys": await ctx.services.kv_keys(namespace, prefix)}
