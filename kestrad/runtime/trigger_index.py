"""The scheduler's trigger index: states by key, and a heap of due times.

A dict `{(namespace, flow id, trigger id): TriggerRow}` with the plan and kind of each
timed trigger, the trigger ids each flow has active, and a heap of
`(due time, generation, key)`. A tick pops only the due entries, so its cost grows with
the number of due triggers, not with the number of triggers; an entry made stale by a
later change is recognised by its generation and skipped, never searched for.

Locked triggers (an execution still running), disabled ones and polled ones waiting for
their result stay off the heap and come back when pushed again, instead of being popped
and skipped every second.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

import msgspec

from kestrad.store.base import FlowRow, TriggerKey, TriggerRow
from kestrad.triggers.cron import NEVER
from kestrad.triggers.fire_times import FirePlan
from kestrad.triggers.kind import ScheduledKind

FlowKey = tuple[str, str]


class FlowSource(Protocol):
    """What the scheduler needs of the flow cache (FlowCache implements it)."""

    def rows(self) -> list[FlowRow]: ...

    def latest(self, namespace: str, flow_id: str) -> Any | None: ...


def trigger_of(flows: FlowSource, key: TriggerKey) -> tuple[Any, Any] | tuple[None, None]:
    """The latest flow of `key` and its trigger `key[2]` ((None, None) when either is gone)."""
    flow = flows.latest(key[0], key[1])
    trigger = flow.find_trigger(key[2]) if flow is not None else None
    return (flow, trigger) if trigger is not None else (None, None)


class Planned(msgspec.Struct, frozen=True):
    """How a timed trigger fires: its plan and its kind."""

    plan: FirePlan
    kind: ScheduledKind


class TriggerIndex:
    """Trigger states, plans, active sets and the due-time heap (see the module docstring)."""

    def __init__(self) -> None:
        self._rows: dict[TriggerKey, TriggerRow] = {}
        # Plan and kind of each timed trigger, in two dicts: no object per trigger at start.
        self._plans: dict[TriggerKey, FirePlan] = {}
        self._kinds: dict[TriggerKey, ScheduledKind] = {}
        self._active: dict[FlowKey, set[str]] = {}  # flow → its scheduled trigger ids
        self._gen: dict[TriggerKey, int] = {}
        self._heap: list[tuple[float, int, TriggerKey]] = []
        # Polled triggers whose evaluation runs: back on the heap when its result arrives.
        self._waiting: set[TriggerKey] = set()

    # -- states ------------------------------------------------------------------------------
    def load(self, rows: Iterable[TriggerRow]) -> None:
        """The stored states, at start (one query)."""
        self._rows = {row.key: row for row in rows}

    def row(self, key: TriggerKey) -> TriggerRow | None:
        return self._rows.get(key)

    def trigger_keys(self) -> list[TriggerKey]:
        return list(self._rows)

    def add(self, row: TriggerRow) -> None:
        self._rows[row.key] = row

    def planned(self, key: TriggerKey) -> Planned | None:
        plan = self._plans.get(key)
        return Planned(plan, self._kinds[key]) if plan is not None else None

    def set_planned(
        self, key: TriggerKey, plan: FirePlan, kind: ScheduledKind
    ) -> TriggerRow | None:
        """Record how `key` fires; returns its state, if it has one yet."""
        self._plans[key] = plan
        self._kinds[key] = kind
        return self._rows.get(key)

    def __len__(self) -> int:
        """How many timed triggers are indexed."""
        return len(self._plans)

    def forget(self, key: TriggerKey) -> TriggerRow | None:
        """Drop a trigger; its heap entries become stale. Returns its state, if any."""
        self._plans.pop(key, None)
        self._kinds.pop(key, None)
        self._bump(key)
        return self._rows.pop(key, None)

    # -- active triggers per flow ------------------------------------------------------------
    def active(self, flow: FlowKey) -> set[str]:
        return self._active.get(flow, set())

    def set_active(self, flow: FlowKey, trigger_ids: set[str]) -> None:
        if trigger_ids:
            self._active[flow] = trigger_ids
        else:
            self._active.pop(flow, None)

    def drop_active(self, flow: FlowKey) -> set[str]:
        return self._active.pop(flow, set())

    # -- heap --------------------------------------------------------------------------------
    def push(self, key: TriggerKey) -> None:
        """(Re)schedule `key`: any earlier heap entry of it becomes stale. A trigger that is
        gone, disabled, locked, unplanned, waiting for a poll or inactive only leaves."""
        gen = self._gen[key] = self._gen.get(key, 0) + 1  # `_bump`, inlined: a hot path
        row = self._rows.get(key)
        if row is None or row.disabled or row.execution_id or key not in self._plans:
            return
        if key in self._waiting:
            return  # back on the heap when its poll result arrives
        if key[2] not in self._active.get((key[0], key[1]), ()):
            return
        due = row.next_fire_at
        if row.backfill is not None and not row.backfill.paused:
            due = 0.0  # a backfill replays past dates as fast as the lock allows
        if due < NEVER:
            heapq.heappush(self._heap, (due, gen, key))

    def pop_due(self, now: float) -> Iterator[TriggerKey]:
        """The keys due at `now`, earliest first; stale entries are skipped. A key pushed
        again while this runs comes out again if it is still due."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, gen, key = heapq.heappop(heap)
            if self._gen.get(key) == gen:
                yield key

    def wait(self, key: TriggerKey) -> None:
        """`key` is being polled: keep it off the heap until `arrived`."""
        self._waiting.add(key)

    def arrived(self, key: TriggerKey) -> None:
        self._waiting.discard(key)

    def waiting(self, key: TriggerKey) -> bool:
        return key in self._waiting

    def _bump(self, key: TriggerKey) -> int:
        gen = self._gen.get(key, 0) + 1
        self._gen[key] = gen
        return gen
