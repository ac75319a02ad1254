"""Database outages: what counts as one, how loops report and wait, and how the PostgreSQL
store's pool and LISTEN connection come back after their connections are killed.

The daemon-level proof (two `kestrad serve` across a real PostgreSQL stop and start) is
tests/daemon/test_postgres_restart.py; these are the pieces, each on its real surface.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import sqlite3
import time
from pathlib import Path

import anyio
import asyncpg
import pytest

from kestrad.config import LivenessConfig
from kestrad.runtime.liveness import LivenessChecker
from kestrad.store.outage import Retry, is_unavailable, outage_of
from tests.conftest import postgres_database, require_postgres

pytestmark = pytest.mark.anyio


def _chained(outer: Exception, cause: BaseException) -> Exception:
    try:
        try:
            raise cause
        except BaseException:
            raise outer  # noqa: B904 (an implicit __context__ is the point)
    except Exception as exc:
        return exc


def _sqlite_busy(tmp_path: Path) -> sqlite3.OperationalError:
    """A real "database is locked" from SQLite (another connection holds the write lock)."""
    path = tmp_path / "busy.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("INSERT INTO t VALUES (1)")
    except sqlite3.OperationalError as exc:
        return exc
    finally:
        other.close()
        holder.close()
    raise AssertionError("no lock error")


def test_what_counts_as_the_database_being_unreachable(tmp_path: Path) -> None:
    unreachable = [
        ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
        OSError("Multiple exceptions: [Errno 111] Connect call failed"),  # asyncio, 2 addresses
        TimeoutError(),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.InterfaceError("cannot perform operation: connection is closed"),
        asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is ..."),
        _sqlite_busy(tmp_path),
        _chained(RuntimeError("rollback failed"), ConnectionResetError()),
        ExceptionGroup("loops", [ConnectionRefusedError(), asyncpg.AdminShutdownError("x")]),
    ]
    for exc in unreachable:
        assert is_unavailable(exc), repr(exc)
    reachable = [
        ValueError("bad input"),
        FileNotFoundError(errno.ENOENT, "no such file"),
        PermissionError(errno.EACCES, "denied"),
        asyncpg.UniqueViolationError("duplicate key"),
        asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        sqlite3.OperationalError("no such table: nope"),
        ExceptionGroup("mixed", [ConnectionRefusedError(), ValueError("bug")]),
    ]
    for exc in reachable:
        assert not is_unavailable(exc), repr(exc)


class _Store:
    """Any object stands for a store: the outage record is keyed by identity."""


async def test_an_outage_is_one_warning_and_one_info_whatever_the_loops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = _Store()
    executor, worker, quiet = Retry(store, "executor"), Retry(store, "worker"), Retry(store, "x")
    caplog.set_level(logging.INFO, logger="kestrad.store")
    for _ in range(5):
        assert executor.failed(ConnectionRefusedError())
        assert worker.failed(asyncpg.AdminShutdownError("terminating connection"))
    assert not executor.failed(ValueError("a bug is not an outage"))
    outage = outage_of(store)
    assert outage.down and outage.failures == 10
    quiet.succeeded()  # never failed: its success may not have touched the database
    assert outage.down
    worker.succeeded()
    executor.succeeded()
    assert not outage.down
    records = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in records] == ["WARNING", "INFO"], records
    assert "database unreachable (ConnectionRefusedError" in records[0][1]
    assert "executor" in records[0][1]
    assert "database reachable again after" in records[1][1]
    assert "10 failed attempt(s)" in records[1][1]


async def test_back_off_doubles_to_its_cap_and_resets_on_success() -> None:
    retry = Retry(_Store(), "polling", first=0.01, cap=0.03)
    delays = []
    for _ in range(4):
        retry.failed(OSError("down"))
        delays.append(retry.delay)
        await retry.wait()
    assert delays == [0.01, 0.02, 0.03, 0.03]
    retry.succeeded()
    assert retry.delay == 0.01


async def test_a_waiting_loop_retries_at_once_when_another_sees_the_database_back() -> None:
    store = _Store()
    slow, fast = Retry(store, "slow", first=30.0), Retry(store, "fast")
    slow.failed(ConnectionRefusedError())
    fast.failed(ConnectionRefusedError())
    began = time.monotonic()
    async with anyio.create_task_group() as tg:
        tg.start_soon(slow.wait)
        await anyio.sleep(0.05)
        fast.succeeded()
    assert time.monotonic() - began < 5.0


async def test_liveness_does_not_judge_a_silence_the_outage_caused(store) -> None:
    """Nobody could heartbeat during the outage: the checker waits one timeout past the
    recovery before disconnecting anyone, then does as usual."""
    await store.register_instance("me", "executor,worker")
    await store.register_instance("other", "worker")
    config = LivenessConfig(heartbeat_interval="PT0.05S", timeout="PT0.5S")
    checker = LivenessChecker(store, "me", config)
    await anyio.sleep(0.6)  # "other" is silent past the timeout from here on
    outage = outage_of(store)
    outage.failed(ConnectionRefusedError(), "a loop of this process")
    outage.recovered()

    async with anyio.create_task_group() as tg:
        tg.start_soon(checker.run)
        await anyio.sleep(0.3)  # within the grace: several passes, no verdict
        states = {i.id: i.state for i in await store.list_instances()}
        assert states["other"] == "RUNNING"
        with anyio.fail_after(5):
            while states["other"] == "RUNNING":
                await anyio.sleep(0.05)
                states = {i.id: i.state for i in await store.list_instances()}
        tg.cancel_scope.cancel()
    assert states == {"me": "RUNNING", "other": "DISCONNECTED"}


async def test_postgres_pool_and_listen_come_back_after_their_connections_die() -> None:
    """asyncpg's pool replaces closed connections on acquire, and LISTEN reconnects."""
    require_postgres()
    from kestrad.store.postgres import PostgresStore

    async with postgres_database() as url:
        store = PostgresStore(url)
        await store.migrate()
        admin = await asyncpg.connect(url)
        wake = asyncio.Event()
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(store.listen, {"kestrad_execution": wake})
                with anyio.fail_after(10):
                    await wake.wait()  # set once listening
                wake.clear()
                pool = store.connector.pool  # five open connections, all about to be killed
                assert pool is not None
                for conn in [await pool.acquire() for _ in range(5)]:
                    await pool.release(conn)

                killed = await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                assert killed == 6  # the pool's five and the LISTEN one

                # Every call either works or fails as "unreachable" (then retried); within
                # two rounds the pool hands out fresh connections only.
                for _round in range(2):
                    results = await asyncio.gather(
                        *(store.ping() for _ in range(5)), return_exceptions=True
                    )
                    errors = [r for r in results if isinstance(r, BaseException)]
                    assert all(is_unavailable(e) for e in errors), errors
                    if not errors:
                        break
                    await asyncio.sleep(0.1)
                assert not errors, errors

                with anyio.fail_after(10):
                    await wake.wait()  # set again on reconnect
                wake.clear()
                await admin.execute("NOTIFY kestrad_execution")
                with anyio.fail_after(10):
                    await wake.wait()  # the new LISTEN connection hears notices
                tg.cancel_scope.cancel()
        finally:
            await admin.close()
            await store.close()


async def test_postgres_connections_probe_a_silent_server() -> None:
    """Pool connections carry TCP keepalives and a send timeout, so a server that
    vanishes without closing the socket fails the pending call instead of hanging it."""
    import socket

    from kestrad.store.factory import open_store

    require_postgres()
    async with postgres_database() as url:
        store = open_store(url)
        await store.migrate()
        try:
            async with store.connector.pool.acquire() as conn:
                sock = conn._con._transport.get_extra_info("socket")
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 10
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 30_000
        finally:
            await store.close()
