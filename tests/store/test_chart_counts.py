"""Executions per state in a date range (the web UI's chart), on every backend, checked
against a count made in Python over the same rows."""

from __future__ import annotations

from typing import Any

import pytest

from kestrad.model.execution import Execution
from kestrad.model.state import History, StateInfo

pytestmark = pytest.mark.anyio

NAMESPACES = ["ns", "ns.sub", "ns.sub.deep", "ns-x", "nsx", "ns_", "other", "n"]
STATES = ["SUCCESS", "FAILED", "RUNNING"]


def sample() -> list[Execution]:
    out = []
    for i in range(96):
        e = Execution.new(namespace=NAMESPACES[i % 8], flow_id="fg"[i % 3 % 2], flow_revision=1)
        e.id = f"c{i:04d}"
        start = f"2026-01-{1 + i % 28:02d}T10:00:00.000000Z"
        state = STATES[i % 3]
        e.state = StateInfo(current=state, histories=[History(state=state, date=start)])
        out.append(e)
    return out


def expected(rows: list[Execution], **query: Any) -> dict[str, int]:
    def keep(e: Execution) -> bool:
        ns, start = query.get("namespace"), e.state.start_date
        if query.get("start") and start < query["start"]:
            return False
        if query.get("end") and start > query["end"]:
            return False
        if query.get("flow_id") and e.flow_id != query["flow_id"]:
            return False
        if ns is None:
            return True
        if query.get("below") and not query.get("flow_id"):
            return e.namespace == ns or e.namespace.startswith(ns + ".")
        return e.namespace == ns

    return {s: sum(1 for e in rows if keep(e) and e.state.current == s) for s in STATES}


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"start": "2026-01-10T00:00:00.000000Z"},
        {"start": "2026-01-05T00:00:00.000000Z", "end": "2026-01-20T10:00:00.000000Z"},
        {"namespace": "ns"},
        {"namespace": "ns", "below": True},
        {"namespace": "ns.sub", "below": True, "start": "2026-01-03T00:00:00.000000Z"},
        {"namespace": "n", "below": True},
        {"namespace": "ns", "flow_id": "f", "below": True},
        {"namespace": "nobody", "below": True},
    ],
)
async def test_counts_per_state_match_the_rows(store: Any, query: dict[str, Any]) -> None:
    rows = sample()
    await store.create_executions(rows)
    counts = await store.count_executions_by_state(STATES, **query)
    assert counts == expected(rows, **query)


async def test_sub_namespace_counts_skip_look_alike_neighbours(store: Any) -> None:
    """`ns-x`, `nsx` and `ns_` sort next to `ns` but are not below it (no LIKE wildcards)."""
    rows = sample()
    await store.create_executions(rows)
    counts = await store.count_executions_by_state(STATES, namespace="ns", below=True)
    below = [e for e in rows if e.namespace in ("ns", "ns.sub", "ns.sub.deep")]
    assert sum(counts.values()) == len(below)


async def test_latest_execution_of_each_flow(store: Any) -> None:
    rows = sample()
    await store.create_executions(rows)
    wanted = [("ns", "f"), ("ns", "g"), ("ns-x", "f"), ("nobody", "f"), ("other", "g")]
    latest = await store.latest_executions_of_flows(wanted)
    for key in wanted:
        mine = [e for e in rows if (e.namespace, e.flow_id) == key]
        if not mine:
            assert key not in latest
            continue
        newest = max(mine, key=lambda e: (e.state.start_date, e.id))
        assert latest[key].id == newest.id
        assert latest[key].state == newest.state.current
    assert await store.latest_executions_of_flows([]) == {}
