"""Kestra's query filters answered in SQL on every backend: namespace with its sub-namespaces,
flow, several states, labels, time ranges, free text, OR groups; hostile values stay values.

After Kestra's `AbstractExecutionRepositoryTest` (core/src/test/java/io/kestra/core/
repositories/): `find` with `QueryFilter`s over namespace PREFIX, state IN, labels EQUALS.
"""

from __future__ import annotations

import pytest

from kestrad.model.execution import Execution, Label
from kestrad.model.query import Filter, FilterGroup, Op, Query
from kestrad.model.state import History, StateInfo
from kestrad.store.filters import UnsupportedFilter

pytestmark = pytest.mark.anyio
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def execution(
    i: int, namespace: str, flow_id: str, state: str, start: str, **labels: str
) -> Execution:
    e = Execution.new(namespace=namespace, flow_id=flow_id, flow_revision=1)
    e.id = f"e{i:03d}"
    e.state = StateInfo(current=state, histories=[History(state=state, date=start)])
    e.labels = [Label(key=k, value=v) for k, v in labels.items()]
    return e


SAMPLE = [
    execution(0, "company", "a", "SUCCESS", "2025-12-31T20:00:00.000000Z", team="data"),
    execution(1, "company.team", "a", "FAILED", "2025-12-31T21:00:00.000000Z", team="ops"),
    execution(2, "company.team.sub", "b", "KILLED", "2025-12-31T22:00:00.000000Z"),
    execution(3, "companyx", "a", "FAILED", "2025-12-31T23:00:00.000000Z", team="data"),
    execution(4, "other", "c_%", "RUNNING", "2025-12-31T23:30:00.000000Z", env="it's"),
]


def q(*filters: Filter, groups: list[FilterGroup] | None = None) -> Query:
    return Query(filters=list(filters), groups=groups or [])


def f(field: str, op: Op, value: object) -> Filter:
    return Filter(field=field, op=op, value=value)  # type: ignore[arg-type]


CASES = [
    (q(), ["e004", "e003", "e002", "e001", "e000"]),
    (q(f("namespace", Op.PREFIX, "company")), ["e002", "e001", "e000"]),
    (q(f("namespace", Op.EQUALS, "company")), ["e000"]),
    (q(f("namespace", Op.STARTS_WITH, "company")), ["e003", "e002", "e001", "e000"]),
    (q(f("namespace", Op.CONTAINS, "TEAM")), ["e002", "e001"]),
    (q(f("namespace", Op.ENDS_WITH, ".sub")), ["e002"]),
    (q(f("namespace", Op.REGEX, "^company\\.team$")), ["e001"]),
    (q(f("state", Op.IN, ["FAILED", "KILLED"])), ["e003", "e002", "e001"]),
    (q(f("state", Op.NOT_IN, ["FAILED", "KILLED"])), ["e004", "e000"]),
    (q(f("state", Op.NOT_EQUALS, "FAILED"), f("flowId", Op.EQUALS, "a")), ["e000"]),
    (q(f("labels", Op.EQUALS, {"team": "data"})), ["e003", "e000"]),
    (q(f("labels", Op.NOT_EQUALS, {"team": "data"})), ["e004", "e002", "e001"]),
    (q(f("labels", Op.EQUALS, {"env": "it's"})), ["e004"]),
    (
        q(f("startDate", Op.GREATER_THAN_OR_EQUAL_TO, "2025-12-31T23:00:00+01:00")),
        ["e004", "e003", "e002"],
    ),
    (q(f("startDate", Op.LESS_THAN, "2025-12-31T21:00:00Z")), ["e000"]),
    (q(f("timeRange", Op.EQUALS, "PT1H")), ["e004", "e003"]),
    (q(f("q", Op.EQUALS, "e00")), ["e004", "e003", "e002", "e001", "e000"]),
    (q(f("q", Op.EQUALS, "sub")), ["e002"]),
    (q(f("flowId", Op.EQUALS, "c_%")), ["e004"]),
    (q(f("flowId", Op.CONTAINS, "_")), ["e004"]),  # LIKE wildcards are matched literally
    (q(f("flowId", Op.CONTAINS, "%")), ["e004"]),
    (q(f("scope", Op.EQUALS, "USER")), ["e004", "e003", "e002", "e001", "e000"]),
    (q(f("childFilter", Op.EQUALS, "CHILD")), []),
    (q(f("kind", Op.EQUALS, "NORMAL")), ["e004", "e003", "e002", "e001", "e000"]),
    (q(f("kind", Op.EQUALS, "TEST")), []),
    (
        q(
            f("state", Op.EQUALS, "FAILED"),
            groups=[
                FilterGroup(
                    members=[
                        [f("namespace", Op.EQUALS, "companyx")],
                        [f("labels", Op.EQUALS, {"team": "ops"})],
                    ]
                )
            ],
        ),
        ["e003", "e001"],
    ),
    # Hostile values are parameters, never SQL.
    (q(f("namespace", Op.EQUALS, "x' OR '1'='1")), []),
    (q(f("labels", Op.EQUALS, {"') OR 1=1 --": "x"})), []),
]


@pytest.mark.parametrize(("query", "ids"), CASES)
async def test_filters_select_exactly_the_matching_executions(store, query, ids) -> None:
    await store.create_executions(SAMPLE)
    found = await store.find_executions(query, now=NOW, limit=100)
    assert [e.id for e in found] == ids
    assert await store.count_found_executions(query, now=NOW) == len(ids)
    assert await store.found_execution_ids(query, now=NOW, limit=100) == ids


async def test_pages_by_keyset_and_offset_agree(store) -> None:
    await store.create_executions(SAMPLE)
    query = q(f("namespace", Op.PREFIX, "company"))
    first = await store.find_executions(query, now=NOW, limit=2)
    last = first[-1]
    rest = await store.find_executions(
        query, now=NOW, limit=2, after=(last.state.start_date, last.id)
    )
    by_offset = await store.find_executions(query, now=NOW, limit=2, offset=2)
    assert [e.id for e in first + rest] == ["e002", "e001", "e000"]
    assert [e.id for e in by_offset] == ["e000"]


async def test_labels_changed_later_are_what_the_filter_sees(store) -> None:
    await store.create_executions(SAMPLE)
    changed = SAMPLE[2]
    changed.labels = [Label(key="team", value="data")]
    await store.save_executions([changed])
    found = await store.find_executions(q(f("labels", Op.EQUALS, {"team": "data"})), now=NOW)
    assert [e.id for e in found] == ["e003", "e002", "e000"]


async def test_a_catastrophic_regex_ends_and_matches_nothing_on_sqlite(store) -> None:
    """`(a+)+$` against a long run of a's backtracks for ages in a naive engine; SQLite's
    REGEXP is time-bounded, PostgreSQL's engine does not backtrack like this."""
    e = execution(9, "a" * 40 + "!", "f", "SUCCESS", "2025-12-31T20:00:00.000000Z")
    await store.create_executions([e])
    found = await store.find_executions(q(f("namespace", Op.REGEX, "^(a+)+$")), now=NOW)
    assert found == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (q(f("state", Op.EQUALS, "NOPE")), "unknown state `NOPE`"),
        (q(f("startDate", Op.GREATER_THAN, "yesterday")), "not an ISO-8601 date"),
        (q(f("timeRange", Op.EQUALS, "an hour")), "ISO-8601 duration"),
        (q(f("namespace", Op.REGEX, "(")), "invalid REGEX"),
        (q(f("parentId", Op.EQUALS, "x")), "cannot be filtered on `parentId`"),
    ],
)
async def test_a_filter_the_store_cannot_answer_is_refused_by_name(store, query, message) -> None:
    with pytest.raises(UnsupportedFilter, match=message):
        await store.find_executions(query, now=NOW)


async def test_a_regex_only_python_reads_is_answered_or_refused_never_a_crash(store) -> None:
    """`(?P<name>…)` is Python's syntax: SQLite (Python's `regex`) answers it, PostgreSQL's
    engine refuses it, which the store turns into the same refusal as a bad pattern."""
    await store.create_executions(SAMPLE)
    query = q(f("namespace", Op.REGEX, "^(?P<name>companyx)$"))
    if store.connector.dialect == "postgres":
        with pytest.raises(UnsupportedFilter, match="invalid REGEX"):
            await store.find_executions(query, now=NOW)
    else:
        assert [e.id for e in await store.find_executions(query, now=NOW)] == ["e003"]
