"""The `kv()` expression function and the in-memory mirror of the KV table it reads.

The `kv()` expression function runs inside a synchronous render, where no database call
can be awaited (the render may even run inside the executor's pure `advance`). So it reads
an in-memory mirror of the whole `kv` table instead: loaded once at start, updated in
place by every write made through the engine's services, and reloaded when the table's stamp
(row count, latest write) shows that another writer (`kestrad kv set`, another daemon)
changed it. The table is small, and a stale read lasts at most one refresh interval; the
`kv.Get` task never uses the mirror and always reads the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kestrad.expr.errors import FunctionError
from kestrad.expr.errors import UndefinedValue as UndefinedError
from kestrad.model.kv import decode_value
from kestrad.model.records import KVEntry


class KVMissing(UndefinedError):
    """A missing key in `kv()` with `errorOnMissing`.

    An UndefinedError on purpose: Kestra's `??` recovers from it (`kv('k').f ?? null`),
    exactly as it does for an unknown variable, while a bare `kv('k')` fails the render
    with this message.
    """


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
