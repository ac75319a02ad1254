"""The PostgreSQL connector (asyncpg pool), and its Store: several daemons on one database.

A plan runs on one pooled connection, in one transaction for writes, each statement
awaited in turn. Batches travel as arrays (`unnest`, `= ANY`), so a plan costs a few
round trips whatever its size. A call that fails because the server went away (restart,
network) expires the pool: its other idle connections may be dead too, and each would
fail once more when next used. Expired ones are replaced on acquire (asyncpg
reconnects), so the caller's retry (see store/outage.py) gets a fresh connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg

from kestrad.store.filters import UnsupportedFilter, render
from kestrad.store.lease import DISCONNECTED, Lease
from kestrad.store.outage import Retry, is_unavailable
from kestrad.store.queries import queries
from kestrad.store.session import Session
from kestrad.store.sql_store import SQLStore
from kestrad.store.statements import (
    All,
    Execute,
    Filtered,
    Many,
    ManyKeys,
    ManyReturning,
    One,
    Params,
    Plan,
    Script,
    Statement,
    Value,
    nothing,
    skipped,
)

T = TypeVar("T")
_SQL = queries("postgres")
log = logging.getLogger("kestrad.store.postgres")
_LISTEN_PING = 30.0  # seconds between checks that the listening connection is alive
# Probe an idle link after 10 s, every 5 s, dead after 3 misses; unacknowledged sends
# fail after 30 s (milliseconds). See _keepalive.
_KEEPALIVE = (
    ("TCP_KEEPIDLE", 10),
    ("TCP_KEEPINTVL", 5),
    ("TCP_KEEPCNT", 3),
    ("TCP_USER_TIMEOUT", 30_000),
)
# Every statement planned for its parameters. Why: asyncpg prepares each query once per
# connection, and after five runs PostgreSQL may switch it to a generic plan that it then
# keeps for the connection's life. One chosen while a table was small (a fresh database,
# or one whose statistics autovacuum never refreshed) reads that table sequentially when
# it is large: the executor's `execution_get_many` ran 3x slower so. An optional filter
# (`$2::text IS NULL OR col = $2`) can use an index only in a plan made for its value.
# Planning costs the server some 20-50 µs per statement, against a plan that is right.
_PLANNING = {"plan_cache_mode": "force_custom_plan"}
_CONNECT_TIMEOUT = 10.0  # seconds to open a connection (asyncpg's default is 60)
_CLOSE_TIMEOUT = 5.0  # seconds a clean pool close may take before it is cut


class PostgresConnector:
    """Runs plans on a PostgreSQL database through an asyncpg pool."""

    dialect = "postgres"

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 0,
        max_size: int = 10,
        session: Session | None = None,
        lease: Lease | None = None,
    ) -> None:
        """`min_size` 0: asyncpg (0.32+) keeps a pool's floor with a task of its own that
        logs a traceback per failed reconnect while the server is down; the loops' polls
        keep connections open anyway, and reconnect on acquire after an outage.

        `session`: the settings of every connection (its name, its timeouts); `lease`:
        this daemon's lease, checked before each commit (store/lease.py)."""
        self.url = url
        self.min_size = min_size
        self.max_size = max_size
        self.lease = lease
        session = session or Session()
        name = lease.application_name if lease is not None else session.application_name
        self.server_settings = {**session.server_settings(name), **_PLANNING}
        self.pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        if self.pool is None:
            self.pool = await asyncpg.create_pool(
                self.url,
                min_size=self.min_size,
                max_size=self.max_size,
                timeout=_CONNECT_TIMEOUT,
                init=_keepalive,
                reset=_keep_session,
                server_settings=self.server_settings,
            )

    async def close(self) -> None:
        """Close the pool; connections a dead server left hanging are cut, not awaited."""
        pool, self.pool = self.pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), _CLOSE_TIMEOUT)
        except Exception:
            pool.terminate()

    async def write(self, plan: Plan[T], *, transaction: bool = True, fenced: bool = True) -> T:
        """See Connector.write. With a lease that is not fresh, even a one-statement plan
        runs in a transaction, which confirms the lease before it commits."""
        assert self.pool is not None, "store not open"
        lease = self.lease if fenced else None
        try:
            async with self.pool.acquire() as conn:
                if lease is not None:
                    lease.check()
                if not transaction and (lease is None or lease.fresh()):
                    return await _run_plan(conn, plan)
                async with conn.transaction():
                    result = await _run_plan(conn, plan)
                    if lease is not None and not lease.fresh():
                        await _confirm_lease(conn, lease)
                    return result
        except Exception as exc:
            await self._expire_if_unavailable(exc)
            raise

    async def read(self, plan: Plan[T]) -> T:
        return await self.write(plan, transaction=False, fenced=False)

    async def analyze_stale(self) -> list[str]:
        """ANALYZE the tables whose planner statistics are stale; their names.

        Why: a server without autovacuum (or one that has not come round yet) leaves a
        table with no statistics, or with those of a much smaller table, and the planner
        then reads it whole where an index fits. Run at each start, after the migrations:
        a database migrated from an older version gets statistics at once, and a server
        that never analyzes gets fresh ones at every restart. Stale is autovacuum's own
        default rule (more rows changed since the last ANALYZE than 50 + 10 % of the
        table), so with autovacuum running this rarely finds anything, and a fresh
        database has nothing to analyze. A failure is logged, never fatal: statistics
        only make plans better.
        """
        assert self.pool is not None, "store not open"
        try:
            async with self.pool.acquire() as conn:
                tables = [row[0] for row in await conn.fetch(_STALE_TABLES)]
                for table in tables:
                    await conn.execute(f"ANALYZE {table}")
                return tables
        except Exception as exc:
            await self._expire_if_unavailable(exc)
            log.warning("could not refresh planner statistics: %s", exc)
            return []

    async def _expire_if_unavailable(self, exc: BaseException) -> None:
        if self.pool is not None and is_unavailable(exc):
            await self.pool.expire_connections()

    async def listen(self, wakes: dict[str, asyncio.Event], retry: Retry) -> None:
        """Set `wakes[channel]` on every NOTIFY of that channel, until cancelled.

        A dedicated connection (outside the pool: LISTEN is per session). Notices are only
        hints that cut a consumer's back-off short; a lost connection (a server restart)
        is opened again with back-off, reported like any database outage, and every event
        is set on (re)connect since notices sent meanwhile are lost. Nothing waits on this
        for correctness: the timed poll still runs.
        """
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(
                    self.url, timeout=_CONNECT_TIMEOUT, server_settings=self.server_settings
                )
                await _keepalive(conn)
                lost = asyncio.Event()
                conn.add_termination_listener(_setter(lost))
                for channel, event in wakes.items():
                    await conn.add_listener(channel, _setter(event))
                retry.succeeded()
                for event in wakes.values():
                    event.set()
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), _LISTEN_PING)
                    if not lost.is_set():
                        await conn.fetchval(_SQL["ping"])
                log.debug("LISTEN connection lost; opening it again")
            except Exception as exc:
                if not retry.failed(exc):
                    log.warning(
                        "LISTEN connection failed (%s); retrying in %.1fs", exc, retry.delay
                    )
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=1.0)
            await retry.wait()


# Tables of this schema changed by more rows since their last ANALYZE (or since they were
# created) than autovacuum's default threshold; quoted, ready for ANALYZE. An empty new
# table is left alone: statistics of nothing would only tell the planner that it is empty.
_STALE_TABLES = """
SELECT format('%I.%I', s.schemaname, s.relname)
FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
WHERE s.schemaname = current_schema()
  AND s.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0)
ORDER BY s.relname
"""


async def _confirm_lease(conn: asyncpg.Connection, lease: Lease) -> None:
    """In the transaction about to commit: the instance row is still RUNNING (renewed, and
    locked until the commit), or the lease is lost and the transaction rolls back."""
    sent = lease.clock()
    status = await conn.execute(_SQL["instance_heartbeat"], time.time(), lease.instance_id)
    if _rowcount(status) == 0:
        raise lease.lose(DISCONNECTED.format(id=lease.instance_id))
    lease.renew(sent)


async def _run_plan(conn: asyncpg.Connection, plan: Plan[T]) -> T:
    """Drive `plan` to its end: each statement it yields awaited, its result sent back."""
    result: object = None
    while True:
        try:
            statement = plan.send(result)
        except StopIteration as stop:
            return stop.value
        result = await _run(conn, statement)


async def _run(conn: asyncpg.Connection, statement: Statement) -> object:
    if type(statement) is Script:
        await conn.execute(statement.sql)
        return None
    if type(statement) is Filtered:
        sql, params = render(statement, _SQL)
        inner = statement.inner._replace(params=params)
        try:
            return await _RUNNERS[type(statement.inner)](conn, sql, inner)
        except asyncpg.exceptions.InvalidRegularExpressionError as exc:
            # A REGEX filter Python's `re` accepted but PostgreSQL's engine does not.
            raise UnsupportedFilter(f"invalid REGEX: {exc}") from None
    sql = _SQL[statement.name]
    if skipped(statement, sql):
        return nothing(statement)
    return await _RUNNERS[type(statement)](conn, sql, statement)


async def _one(conn: asyncpg.Connection, sql: str, st: Any) -> object:
    return await conn.fetchrow(sql, *st.params)


async def _all(conn: asyncpg.Connection, sql: str, st: Any) -> object:
    return await conn.fetch(sql, *st.params)


async def _value(conn: asyncpg.Connection, sql: str, st: Any) -> object:
    return await conn.fetchval(sql, *st.params)


async def _execute(conn: asyncpg.Connection, sql: str, st: Any) -> object:
    return _rowcount(await conn.execute(sql, *st.params))


async def _many(conn: asyncpg.Connection, sql: str, st: Any) -> object:
    return _rowcount(await conn.execute(sql, *_columns(st.rows)))


async def _many_returning(conn: asyncpg.Connection, sql: str, st: Any) -> object:
    return await conn.fetch(sql, *_columns(st.rows))


async def _many_keys(conn: asyncpg.Connection, sql: str, st: Any) -> object:
    return [row[0] for row in await conn.fetch(sql, *_columns(st.rows))]


_RUNNERS: dict[type, Callable[[asyncpg.Connection, str, Any], Awaitable[object]]] = {
    One: _one,
    All: _all,
    Value: _value,
    Execute: _execute,
    Many: _many,
    ManyReturning: _many_returning,
    ManyKeys: _many_keys,
}


def _columns(rows: Sequence[Params]) -> list[list[object]]:
    """Rows → one list per column: the arrays `unnest` takes."""
    return [list(column) for column in zip(*rows, strict=True)]


def _rowcount(status: str) -> int:
    """Rows touched, from a command tag such as `DELETE 3` (0 for `CREATE TABLE`)."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a connection needs when it goes back to the pool: nothing more than asyncpg
    always does first (roll back an open transaction, drop its listeners).

    Why not asyncpg's default reset: it sends `SELECT pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL` on every release, one more round trip per plan (a fifth of an
    executor batch's round trips). None of it has anything to undo here: a plan takes
    only transaction-level advisory locks and `SET LOCAL`s, opens no cursor outside its
    transaction, and never LISTENs on a pooled connection (`listen` has its own); the
    session's settings are its startup parameters, which RESET ALL would keep anyway.
    """


def _setter(event: asyncio.Event) -> Callable[..., None]:
    """An asyncpg notification callback that only sets `event`."""

    def on_notice(*_args: Any) -> None:
        event.set()

    return on_notice


async def _keepalive(conn: asyncpg.Connection) -> None:
    """TCP keepalives and a send timeout on a new connection.

    Why: a server that vanishes without closing the socket (a failover, a dropped NAT
    mapping, a pulled cable) leaves a read waiting forever: no loop would ever see an
    error to retry on. With these, the kernel declares the link dead within about half a
    minute, the pending call fails, and the outage handling takes over. asyncpg has no
    option for it (MagicStack/asyncpg#606), so the socket is set directly; a live server
    answers probes from its kernel, so long queries are not affected.
    """
    transport = getattr(conn, "_transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return  # a Unix socket: the server is local, there is no network to drop
    options = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    for name, value in _KEEPALIVE:
        if hasattr(socket, name):  # Linux names; other systems keep their defaults
            options.append((socket.IPPROTO_TCP, getattr(socket, name), value))
    with contextlib.suppress(OSError):
        for level, option, value in options:
            sock.setsockopt(level, option, value)


class PostgresStore(SQLStore):
    """The Store on one PostgreSQL database."""

    connector: PostgresConnector

    def __init__(
        self,
        url: str,
        *,
        liveness_timeout: float = 45.0,
        min_size: int = 0,
        max_size: int = 10,
        session: Session | None = None,
        lease: Lease | None = None,
    ) -> None:
        connector = PostgresConnector(
            url, min_size=min_size, max_size=max_size, session=session, lease=lease
        )
        super().__init__(connector, liveness_timeout=liveness_timeout)

    async def migrate(self) -> None:
        """Migrate, then give the planner the statistics it lacks (see analyze_stale)."""
        await super().migrate()
        await self.connector.analyze_stale()
