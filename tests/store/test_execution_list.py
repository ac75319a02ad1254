"""The executions list on every backend: keyset pages over each filter combination, numbered
pages (offset) agreeing with them, counts, and pages that stay put while executions are
created."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from kestrad.model.execution import Execution
from kestrad.model.state import History, StateInfo
from kestrad.store.cursor import decode_cursor, encode_cursor, position

pytestmark = pytest.mark.anyio

FILTERS: list[dict[str, str]] = [
    {},
    {"namespace": "a"},
    {"namespace": "a", "flow_id": "f"},
    {"flow_id": "g"},
    {"flow_id": "g", "state": "FAILED"},
    {"state": "SUCCESS"},
    {"namespace": "b", "state": "FAILED"},
    {"namespace": "b", "flow_id": "g", "state": "SUCCESS"},
    {"namespace": "nobody"},
]


def execution(i: int, namespace: str, flow_id: str, state: str, start: str) -> Execution:
    e = Execution.new(namespace=namespace, flow_id=flow_id, flow_revision=1)
    e.id = f"e{i:04d}"
    e.state = StateInfo(current=state, histories=[History(state=state, date=start)])
    return e


def sample(count: int = 60) -> list[Execution]:
    """Two namespaces, two flows each, two states; several rows share each start date."""
    out = []
    for i in range(count):
        state = "FAILED" if i % 5 == 0 else "SUCCESS"
        start = f"2026-01-01T00:{i // 7:02d}:00.000000Z"
        out.append(execution(i, "ab"[i % 2], "fg"[i % 3 % 2], state, start))
    return out


def expected(executions: list[Execution], filters: dict[str, Any]) -> list[str]:
    def keep(e: Execution) -> bool:
        actual = {"namespace": e.namespace, "flow_id": e.flow_id, "state": e.state.current}
        return all(actual[k] == v for k, v in filters.items())

    newest_first = sorted(filter(keep, executions), key=position, reverse=True)
    return [e.id for e in newest_first]


async def walk(store: Any, filters: dict[str, Any], size: int) -> list[str]:
    seen: list[str] = []
    after = None
    while True:
        page = await store.search_executions(**filters, after=after, limit=size)
        seen += [e.id for e in page]
        if len(page) < size:
            return seen
        after = position(page[-1])


async def test_every_filter_combination_pages_by_keyset_and_by_offset(store: Any) -> None:
    executions = sample()
    await store.create_executions(executions)
    for filters in FILTERS:
        want = expected(executions, filters)
        assert await walk(store, filters, 4) == want, filters
        numbered = []
        for page in itertools.count():
            rows = await store.search_executions(**filters, limit=4, offset=page * 4)
            numbered += [e.id for e in rows]
            if len(rows) < 4:
                break
        assert numbered == want, filters
        assert await store.count_executions(**filters) == len(want), filters
        listed = await store.list_executions(**filters, limit=5)
        assert [e.id for e in listed] == want[:5], filters


async def test_a_keyset_page_stays_put_while_newer_executions_arrive(store: Any) -> None:
    executions = sample(20)
    await store.create_executions(executions)
    first = await store.search_executions(namespace="a", limit=3)
    cursor = encode_cursor(position(first[-1]))
    newer = [
        execution(100 + i, "a", "f", "SUCCESS", "2026-02-01T00:00:00.000000Z") for i in range(5)
    ]
    await store.create_executions(newer)
    second = await store.search_executions(namespace="a", after=decode_cursor(cursor), limit=3)
    assert [e.id for e in second] == expected(executions, {"namespace": "a"})[3:6]
    # An offset page, by contrast, shifts by the five new rows: it repeats one already seen.
    shifted = await store.search_executions(namespace="a", limit=3, offset=3)
    assert [e.id for e in shifted] == ["e0101", "e0100", first[0].id]


def test_cursors_round_trip_and_refuse_garbage() -> None:
    at = ("2026-01-01T00:00:00.000000Z", "6Fx2…id")
    assert decode_cursor(encode_cursor(at)) == at
    for bad in ("!!!", "", "bm90IGpzb24", encode_cursor(("only-one",)), "é"):  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            decode_cursor(bad)


COUNT_FILTERS: list[dict[str, Any]] = [
    {},
    {"states": ["FAILED"]},
    {"namespaces": ["a"]},
    {"namespaces": ["a", "nobody"], "states": ["SUCCESS", "FAILED"]},
    {"flows": [("a", "f"), ("b", "g"), ("a", "f")]},
    {"flows": [("b", "f"), ("nobody", "f")], "states": ["FAILED"]},
    {"flows": [("a", "f"), ("b", "g")], "namespaces": ["b"]},
    {"namespaces": [], "states": ["FAILED"]},
    {"states": []},
]


@pytest.mark.parametrize("filters", COUNT_FILTERS, ids=str)
@pytest.mark.parametrize(
    ("start", "end"),
    [(None, None), ("2026-01-01T00:02:00.000000Z", None), (None, "2026-01-01T00:04:00.000000Z")],
)
async def test_count_by_flow_picks_a_query_per_filter_combination(
    store: Any, filters: dict[str, Any], start: str | None, end: str | None
) -> None:
    """execution.Count's store query, one per filter combination (each has an index behind
    it, tests/store/test_explain.py): every combination counts what a plain filter would."""
    executions = sample()
    await store.create_executions(executions)
    counts = await store.count_executions_by_flow(start=start, end=end, **filters)

    def keep(e: Execution) -> bool:
        date = e.state.histories[0].date
        return (
            (start is None or date >= start)
            and (end is None or date <= end)
            and ("states" not in filters or e.state.current in filters["states"])
            and ("namespaces" not in filters or e.namespace in filters["namespaces"])
            and (not filters.get("flows") or (e.namespace, e.flow_id) in filters["flows"])
        )

    wanted: dict[tuple[str, str], int] = {}
    for e in filter(keep, executions):
        wanted[(e.namespace, e.flow_id)] = wanted.get((e.namespace, e.flow_id), 0) + 1
    assert [(c.namespace, c.flow_id, c.count) for c in counts] == [
        (*k, v) for k, v in sorted(wanted.items())
    ]
