"""Parsed flows in memory, by revision, backed by the store.

The executor and the worker look flows up for every message; parsing YAML each time would
dominate, so every revision is parsed once. Executions pin the revision they started with.
Changes this process makes go through `deploy`/`remember`; those other processes sharing
the store make are brought in by `runtime/flow_follow.py`.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import anyio

from kestrad.flows.loader import load_flow
from kestrad.model.flow import Flow
from kestrad.store.base import FlowKey, FlowRow, Store
from kestrad.triggers.flow import FLOW, FlowTrigger


def source_digest(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


class FlowCache:
    """Flows by (namespace, id, revision), plus the latest row of each flow."""

    def __init__(self, store: Store, *, global_defaults: list[Any] | None = None) -> None:
        self.store = store
        self.global_defaults = global_defaults or []
        self._by_revision: dict[FlowKey, Any] = {}
        self._latest: dict[tuple[str, str], FlowRow] = {}
        # Latest revisions that declare Flow triggers: the only flows an ended execution
        # has to be checked against.
        self._flow_triggers: dict[tuple[str, str], list[tuple[Any, Any]]] = {}
        # Those of them with windowed conditions (preconditions, MultipleCondition): the
        # only ones whose windows a PostgreSQL executor batch must lock; usually none.
        self._windowed: dict[tuple[str, str], list[tuple[Any, Any]]] = {}

    def parse(self, row: FlowRow) -> Any:
        """Parse a stored revision (lenient: it validated when it was saved)."""
        key = (row.namespace, row.id, row.revision)
        flow = self._by_revision.get(key)
        if flow is None:
            flow = load_flow(row.source, file=row.file, strict=False)
            flow.revision = row.revision
            self._by_revision[key] = flow
        return flow

    def remember(self, row: FlowRow) -> Any:
        flow = self.parse(row)
        current = self._latest.get((row.namespace, row.id))
        if current is None or current.revision <= row.revision:
            self._latest[(row.namespace, row.id)] = row
            self._index_triggers(row, flow)
        return flow

    def _index_triggers(self, row: FlowRow, flow: Flow) -> None:
        key = (row.namespace, row.id)
        self._flow_triggers.pop(key, None)
        self._windowed.pop(key, None)
        if row.deleted or row.disabled:
            return

        found = [(flow, t) for t in (flow.triggers or []) if isinstance(t, FlowTrigger)]
        if found:
            self._flow_triggers[key] = found
        windowed = [(f, t) for f, t in found if FLOW.windowed(t)]
        if windowed:
            self._windowed[key] = windowed

    def flow_trigger_candidates(self) -> list[tuple[Any, Any]]:
        """Every (flow, Flow trigger) of the latest enabled revisions."""
        return [pair for pairs in self._flow_triggers.values() for pair in pairs]

    def windowed_trigger_candidates(self) -> list[tuple[Any, Any]]:
        """The Flow triggers of `flow_trigger_candidates` that keep windows."""
        return [pair for pairs in self._windowed.values() for pair in pairs]

    def get(self, namespace: str, flow_id: str, revision: int) -> Any | None:
        return self._by_revision.get((namespace, flow_id, revision))

    def has(self, key: FlowKey) -> bool:
        return key in self._by_revision

    def latest_row(self, namespace: str, flow_id: str) -> FlowRow | None:
        return self._latest.get((namespace, flow_id))

    def latest(self, namespace: str, flow_id: str) -> Any | None:
        row = self._latest.get((namespace, flow_id))
        return self.parse(row) if row is not None else None

    def rows(self) -> list[FlowRow]:
        return list(self._latest.values())

    async def load_all(self) -> None:
        """Read the latest revision of every flow once, at start."""
        for row in await self.store.list_flows():
            try:
                self.remember(row)
            except Exception:  # a stored flow that no longer parses stays out of the cache
                continue

    async def fetch(self, namespace: str, flow_id: str, revision: int | None = None) -> Any | None:
        """The flow, from memory or else from the store (another daemon may have saved it).

        The latest revision is served from memory: every save in this process goes
        through `deploy`/`remember`, so a store round trip per execution would be waste.
        """
        if revision is not None:
            flow = self.get(namespace, flow_id, revision)
            if flow is not None:
                return flow
        else:
            row = self._latest.get((namespace, flow_id))
            if row is not None:
                return self.parse(row)
        row = await self.store.get_flow(namespace, flow_id, revision)
        return self.remember(row) if row is not None else None

    async def load_source(self, source: str, file: str | None = None) -> Any:
        """`load_flow` off the event loop; raises FlowLoadError with every problem."""
        return await anyio.to_thread.run_sync(
            functools.partial(load_flow, source, file=file, global_defaults=self.global_defaults)
        )

    async def deploy(self, source: str, *, file: str | None = None, parsed: Any = None) -> Any:
        """Validate (strictly), store as a new revision when the source changed, cache.

        Parsing runs in a thread: a big file must not stall the loop (and `/health`).
        `parsed`: the Flow the caller already loaded from this very `source`."""
        flow = parsed if parsed is not None else await self.load_source(source, file)
        row = await self.store.save_flow(
            flow.namespace, flow.id, source, source_digest(source), file
        )
        flow.revision = row.revision
        self._by_revision[(row.namespace, row.id, row.revision)] = flow
        self.remember(row)
        return flow
