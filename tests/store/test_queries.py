"""The two dialects' SQL stay twins, and a connector runs what a plan yields the same way
on both: what differs between SQLite and PostgreSQL is SQL text, never Python."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kestrad.store.queries import queries
from kestrad.store.statements import Execute, Many, ManyKeys, ManyReturning, Plan, Value

PLANS = Path(__file__).parents[2] / "kestrad" / "store" / "plans"
NAMED = re.compile(r"\b(?:One|All|Value|Execute|Many|ManyReturning|ManyKeys)\(\s*\"(\w+)\"[,)]")


def _highest_parameter(sql: str, mark: str) -> int:
    return max((int(n) for n in re.findall(re.escape(mark) + r"(\d+)", sql)), default=0)


def test_both_dialects_name_the_same_queries_with_the_same_parameters() -> None:
    sqlite, postgres = queries("sqlite"), queries("postgres")
    assert sorted(sqlite) == sorted(postgres)
    for name, sql in sqlite.items():
        assert postgres[name], f"{name}: PostgreSQL runs every query"
        if sql:  # empty: nothing to do in SQLite (a lock its single writer makes moot)
            assert _highest_parameter(sql, "?") == _highest_parameter(postgres[name], "$"), name


def test_every_query_a_plan_names_exists() -> None:
    named = {m for path in PLANS.glob("*.py") for m in NAMED.findall(path.read_text())}
    assert len(named) > 50
    assert named <= set(queries("sqlite")), named - set(queries("sqlite"))


@pytest.mark.anyio
async def test_a_query_empty_in_a_dialect_is_skipped_and_the_plan_goes_on(store) -> None:
    """`queue_key_lock` is an advisory lock in PostgreSQL and nothing in SQLite."""

    def plan() -> Plan[tuple[int, int, object]]:
        locked = yield Execute("queue_key_lock", (["b", "a"],))
        batch = yield Many("batch_lock", [(1, 2), (1, 3)])
        due = yield Value("queue_execution_next_due")
        return locked, batch, due

    connector = store.connector
    locked, batch, due = await connector.write(plan())
    if connector.dialect == "sqlite":
        assert (locked, batch) == (0, 0)
    else:
        assert (locked, batch) == (2, 2)  # `SELECT 2`: one lock per key
    assert due is None


@pytest.mark.anyio
async def test_statements_over_no_rows_run_nothing(store) -> None:
    def plan() -> Plan[tuple[object, object, object]]:
        inserted = yield Many("queue_execution_insert", [])
        keys = yield ManyKeys("log_insert", [])
        windows = yield ManyReturning("trigger_window_get_many", [])
        return inserted, keys, windows

    assert await store.connector.write(plan()) == (0, [], [])


def test_the_sql_store_implements_every_role_with_the_protocol_signatures() -> None:
    import inspect

    from kestrad.store.roles import Store
    from kestrad.store.sql_store import SQLStore

    roles = [c for c in Store.__mro__ if c.__module__ == Store.__module__]
    methods = {n for role in roles for n in vars(role) if not n.startswith("_")}
    assert len(methods) >= 50
    for name in methods:
        wanted = inspect.signature(getattr(Store, name))
        assert inspect.signature(getattr(SQLStore, name)) == wanted, name
