"""The store reads the API relies on, on every store backend (the shared `store` fixture)."""

from __future__ import annotations

import time

import pytest

from kestrad.model.execution import Execution
from kestrad.model.state import History, StateInfo

pytestmark = pytest.mark.anyio


def _execution(i: int, namespace: str, flow_id: str, state: str, start: str) -> Execution:
    execution = Execution.new(namespace=namespace, flow_id=flow_id, flow_revision=1)
    execution.id = f"e{i:03d}"
    execution.state = StateInfo(current=state, histories=[History(state=state, date=start)])
    return execution


def _matches(execution: Execution, filters: dict[str, str]) -> bool:
    actual = {
        "namespace": execution.namespace,
        "flow_id": execution.flow_id,
        "state": execution.state.current,
    }
    return all(actual[key] == value for key, value in filters.items())


async def test_keyset_pages_never_skip_or_repeat_even_with_equal_start_dates(store) -> None:
    executions = [
        # Several executions share a start date: the id breaks the tie.
        _execution(i, "a" if i % 2 else "b", "f" if i % 3 else "g", state, date)
        for i, (state, date) in enumerate(
            [("SUCCESS", f"2026-01-01T00:00:0{i // 4}.000000Z") for i in range(20)]
        )
    ]
    executions[3].state.current = "RUNNING"
    await store.create_executions(executions)

    for filters in (
        {},
        {"namespace": "a"},
        {"namespace": "a", "flow_id": "f"},
        {"state": "SUCCESS"},
        {"flow_id": "g"},
        {"state": "SUCCESS", "namespace": "b"},
    ):
        expected = sorted(
            (e for e in executions if _matches(e, filters)),
            key=lambda e: (e.state.start_date, e.id),
            reverse=True,
        )
        seen: list[str] = []
        after = None
        while True:
            page = await store.search_executions(**filters, after=after, limit=3)
            seen += [e.id for e in page]
            if len(page) < 3:
                break
            after = (page[-1].state.start_date, page[-1].id)
        assert seen == [e.id for e in expected], filters
        assert await store.count_executions(**filters) == len(expected)


async def test_active_executions_queue_stats_and_ping(store) -> None:
    running = _execution(1, "a", "f", "RUNNING", "2026-01-01T00:00:00.000000Z")
    done = _execution(2, "a", "f", "SUCCESS", "2026-01-01T00:00:00.000000Z")
    await store.create_executions([running, done])
    assert await store.active_executions() == [(running.id, "RUNNING")]
    stats = {s.topic: s for s in await store.queue_stats(time.time() + 1)}
    assert stats["execution"].depth == 2  # one wake-up message per created execution
    assert stats["execution"].oldest_due is not None
    assert stats["worker"].depth == 0 and stats["worker"].oldest_due is None
    await store.ping()
