"""PostgreSQL plans stay right as the database grows, and the planner gets statistics.

asyncpg prepares each query once per connection; PostgreSQL may then keep a generic
plan, made while the tables were small, for the connection's life. The first test runs
the executor's and the worker's queries on the connector's own connection while the
database is young, fills it (COPY, no ANALYZE: a server without autovacuum), and checks
each query's plan as that connection would run it next (EXPLAIN EXECUTE): none may read a
big table sequentially. With PostgreSQL's default `plan_cache_mode` it fails (the batch's
`execution_get_many` reads every execution).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import pytest

from kestrad.store.factory import open_store
from tests.conftest import postgres_database, require_postgres
from tests.store.test_explain import Data, fill, problems

pytestmark = pytest.mark.anyio

# Queries of the executor's batch and the worker's loop whose plan depends only on the
# tables' size, not on column statistics (which this test leaves out on purpose).
SIZE_DECIDES = {"execution_get_many", "execution_states_of", "execution_running_counts"}
SIZE_DECIDES |= {"queue_execution_delete_keys", "queue_worker_delete_keys"}
SIZE_DECIDES |= {"queue_execution_delete", "queue_worker_delete", "queue_execution_poll"}
SIZE_DECIDES |= {"queue_worker_claim", "execution_queued_ids", "log_list"}


def literal(value: Any, kind: str) -> str:
    """`value` as an SQL literal of type `kind` (EXECUTE takes no bound parameters)."""
    if value is None:
        return f"NULL::{kind}"
    if isinstance(value, list):
        element = kind.removesuffix("[]")
        return "ARRAY[" + ",".join(literal(v, element) for v in value) + f"]::{kind}"
    if isinstance(value, int | float):
        return f"{value!r}::{kind}"
    return "'" + str(value).replace("'", "''") + f"'::{kind}"


async def test_plans_made_while_the_database_was_young_hold_when_it_grows() -> None:
    require_postgres()
    from tests.store.test_explain import Q, hot_queries

    data = Data()
    async with postgres_database() as url:
        store = open_store(url)
        await store.migrate()
        try:
            hot = [h for h in hot_queries(data, {"low": 1, "high": 100}) if h[1] in SIZE_DECIDES]
            assert {name for _, name, _ in hot} == SIZE_DECIDES
            async with store.connector.pool.acquire() as conn:  # type: ignore[attr-defined]
                calls = []
                for i, (label, name, args) in enumerate(hot):
                    await conn.execute(f"PREPARE young{i} AS {Q[name]}")
                    kinds = await conn.fetchval(
                        "SELECT parameter_types::text[] FROM pg_prepared_statements"
                        " WHERE name = $1",
                        f"young{i}",
                    )
                    call = f"young{i}(" + ",".join(map(literal, args, kinds)) + ")"
                    async with conn.transaction():
                        for _ in range(7):  # past the five custom plans of `auto`
                            await conn.execute(f"EXECUTE {call}")
                    calls.append((label, name, call))
                grown = await asyncpg.connect(url)
                try:
                    await fill(_NoAnalyze(grown), data)
                finally:
                    await grown.close()
                failures = []
                for label, name, call in calls:
                    text = await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE {call}")
                    found = problems(label, json.loads(text)[0]["Plan"])
                    if found:
                        failures.append(f"{label} ({name}): {'; '.join(found)}")
                await conn.execute("DEALLOCATE ALL")
        finally:
            await store.close()
    assert not failures, "\n".join(failures)


class _NoAnalyze:
    """A connection whose `VACUUM ANALYZE` does nothing: the server that never runs one."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.copy_records_to_table = conn.copy_records_to_table
        self.executemany = conn.executemany

    async def execute(self, sql: str, *args: Any) -> str:
        if sql == "VACUUM ANALYZE":
            return ""
        return await self.conn.execute(sql, *args)


async def test_a_start_analyzes_the_tables_that_changed_and_only_those() -> None:
    """A fresh database has nothing to analyze; executions written past autovacuum's
    threshold without an ANALYZE get one at the next start, and then nothing is stale."""
    require_postgres()
    async with postgres_database() as url:
        store = open_store(url)
        await store.migrate()
        connector: Any = store.connector
        try:
            assert await connector.analyze_stale() == []
            writer = await asyncpg.connect(url)
            try:
                await writer.execute(
                    "INSERT INTO executions (id, namespace, flow_id, flow_revision, state,"
                    " start_date, value) SELECT 'e' || i, 'ns', 'f', 1, 'SUCCESS',"
                    " '2026-01-01', '\\x00' FROM generate_series(1, 200) AS i"
                )
                await _counted(writer, "executions", 200)
            finally:
                await writer.close()
            await store.close()
            store = open_store(url)
            await store.migrate()  # a restart: migrations (none left), then statistics
            connector = store.connector
            async with connector.pool.acquire() as conn:
                analyzed = await conn.fetchval(
                    "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables"
                    " WHERE relname = 'executions'"
                )
                others = await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_user_tables"
                    " WHERE relname <> 'executions' AND last_analyze IS NOT NULL"
                )
            assert analyzed and others == 0
            assert await connector.analyze_stale() == []
        finally:
            await store.close()


async def _counted(conn: asyncpg.Connection, table: str, changes: int) -> None:
    """Wait until the server's statistics count `changes` rows changed in `table` (a
    backend reports its counters a little after its transactions end)."""
    for _ in range(300):
        seen = await conn.fetchval(
            "SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = $1", table
        )
        if seen >= changes:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{table}: the server never counted {changes} changes")
