"""The embedded SQLite connector (aiosqlite, WAL, synchronous=FULL), and its Store.

aiosqlite hops to its thread on every await (~100 µs), so a plan runs here as ONE call
into that thread: the generator is driven synchronously over the `sqlite3.Connection`,
through `Connection._execute`. That keeps group commit cheap: a whole executor batch is
one hop and one fsync. Calls on one connection run in order on its thread, so write
transactions never interleave inside this process. Across processes (`kestrad serve
--processes N`, a `kestrad run` beside the daemon) an exclusive `flock` on `<db>.writelock`
serializes them: SQLite's own busy handler sleeps up to 100 ms between retries, which
made a second process's writes wait far longer than the transaction they waited for; a
flock waiter is woken by the kernel the moment the holder commits, and the lock is gone
with its holder when it dies (kill -9 included). `BEGIN IMMEDIATE` and the busy timeout
still stand behind it for writers that do not take the flock (the sqlite3 shell). Reads go
to a second connection (WAL lets them run beside a write).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import msgspec

from kestrad.store.filters import render
from kestrad.store.outage import Retry
from kestrad.store.queries import queries
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
)

T = TypeVar("T")
_SQL = queries("sqlite")
# Below this many free bytes on the database's file system, health reports the disk full:
# SQLite may still fit a commit in WAL space it holds, until the next one needs a page.
MIN_FREE_BYTES = 1024 * 1024


class DatabaseFileGone(sqlite3.OperationalError):
    """The database file was deleted or replaced while the daemon had it open: every write
    would land in an unlinked file and be lost at the next start. An outage (SQLite's
    "cannot open"), answered 503, until an operator restores the file and restarts."""

    sqlite_errorname = "SQLITE_CANTOPEN"


class DiskFull(sqlite3.OperationalError):
    """The file system holding the database is (nearly) full (see MIN_FREE_BYTES)."""

    sqlite_errorname = "SQLITE_FULL"


_json = msgspec.json.Encoder()


class SQLiteConnector:
    """Runs plans on one SQLite file: writes on one connection, reads on another."""

    dialect = "sqlite"

    def __init__(self, path: str, *, synchronous: str = "FULL") -> None:
        self.path = path
        self.synchronous = synchronous
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._identity: tuple[int, int] | None = None  # (device, inode) of the file opened
        self._write_lock: int | None = None  # the descriptor of `<db>.writelock`

    async def open(self) -> None:
        if self._writer is not None:
            return
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        if self.path != ":memory:":
            self._write_lock = os.open(
                f"{self.path}.writelock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
            )
        self._writer = await self._connect()
        self._reader = await self._connect()
        identity = os.stat(self.path)
        self._identity = (identity.st_dev, identity.st_ino)

    async def _connect(self) -> aiosqlite.Connection:
        conn = aiosqlite.connect(self.path, isolation_level=None, timeout=30.0)
        # A daemon thread: a connection left open (a crash path) never blocks the exit.
        conn._thread.daemon = True
        await conn
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute(f"PRAGMA synchronous={self.synchronous}")
        await conn.execute("PRAGMA busy_timeout=30000")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.create_function("regexp", 2, regexp, deterministic=True)
        return conn

    async def close(self) -> None:
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None
        if self._write_lock is not None:
            os.close(self._write_lock)
            self._write_lock = None

    def check_file(self) -> None:
        """Raise DatabaseFileGone when the path no longer names the file this connector
        opened (deleted, or replaced by another). A stat: about a microsecond per write."""
        if self._identity is None or self.path == ":memory:":
            return
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            raise DatabaseFileGone(
                f"the database file {self.path} was deleted while open; restore it and restart"
            ) from None
        if (found.st_dev, found.st_ino) != self._identity:
            raise DatabaseFileGone(
                f"the database file {self.path} was replaced while open; restart to use it"
            )

    def check_disk(self) -> None:
        """Raise DiskFull when the database's file system has under MIN_FREE_BYTES free."""
        try:
            fs = os.statvfs(os.path.dirname(os.path.abspath(self.path)))
        except OSError:
            return
        free = fs.f_bavail * fs.f_frsize
        if free < MIN_FREE_BYTES:
            raise DiskFull(f"the disk holding {self.path} is full ({free} bytes free)")

    async def write(self, plan: Plan[T], *, transaction: bool = True, fenced: bool = True) -> T:
        """One process per database file: no other daemon to be fenced by (`fenced` is
        PostgreSQL's, see store/lease.py)."""
        assert self._writer is not None, "store not open"
        self.check_file()
        run = in_transaction if transaction else run_plan
        if self._write_lock is None:
            return await self._writer._execute(run, self._writer._conn, plan)
        return await self._writer._execute(holding, self._write_lock, run, self._writer._conn, plan)

    async def read(self, plan: Plan[T]) -> T:
        return await self.call_on_reader(run_plan, plan)

    async def call_on_reader(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(sqlite3_connection, *args)` on the reader's thread."""
        assert self._reader is not None, "store not open"
        return await self._reader._execute(fn, self._reader._conn, *args)

    async def listen(self, wakes: dict[str, asyncio.Event], retry: Retry) -> None:
        """SQLite has no notices: other processes' work is found by polling alone."""


# -- run on the database thread ------------------------------------------------------------
def holding(
    lock: int,
    run: Callable[[sqlite3.Connection, Plan[T]], T],
    conn: sqlite3.Connection,
    plan: Plan[T],
) -> T:
    """`run(conn, plan)` holding the exclusive write flock: two syscalls, about 2 µs.

    Blocking without a deadline: only a process inside a write transaction holds it, and
    the kernel drops it when that process dies. A process frozen mid-transaction (SIGSTOP)
    would hold SQLite's own lock just the same.
    """
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        return run(conn, plan)
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)


def in_transaction(conn: sqlite3.Connection, plan: Plan[T]) -> T:
    """BEGIN IMMEDIATE, run, COMMIT; ROLLBACK on any error so nothing half-written stays."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = run_plan(conn, plan)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def run_plan(conn: sqlite3.Connection, plan: Plan[T]) -> T:
    """Drive `plan` to its end: each statement it yields runs here, its result sent back."""
    result: object = None
    while True:
        try:
            statement = plan.send(result)
        except StopIteration as stop:
            return stop.value
        result = _run(conn, statement)


def _run(conn: sqlite3.Connection, statement: Statement) -> object:
    runner = _RUNNERS.get(type(statement))
    if runner is None:
        return _run_other(conn, statement)
    sql = _SQL[statement.name]
    # `skipped` and `nothing` (statements.py), tested by the statement's type: this runs
    # for every statement of every plan, on the database thread.
    if not sql:
        return nothing(statement)
    if type(statement) in _OVER_ROWS and not statement.rows:
        return nothing(statement)
    return runner(conn, sql, statement)


def _run_other(conn: sqlite3.Connection, statement: Statement) -> object:
    if type(statement) is Script:
        for sql in _statements(statement.sql):
            conn.execute(sql)
        return None
    if type(statement) is Filtered:
        sql, params = render(statement, _SQL)
        return _RUNNERS[type(statement.inner)](conn, sql, statement.inner._replace(params=params))
    raise TypeError(f"not a statement: {statement!r}")


def _one(conn: sqlite3.Connection, sql: str, st: Any) -> object:
    return conn.execute(sql, _bind(st.params)).fetchone()


def _all(conn: sqlite3.Connection, sql: str, st: Any) -> object:
    return conn.execute(sql, _bind(st.params)).fetchall()


def _value(conn: sqlite3.Connection, sql: str, st: Any) -> object:
    row = conn.execute(sql, _bind(st.params)).fetchone()
    return None if row is None else row[0]


def _execute(conn: sqlite3.Connection, sql: str, st: Any) -> object:
    return conn.execute(sql, _bind(st.params)).rowcount


def _many(conn: sqlite3.Connection, sql: str, st: Any) -> object:
    return conn.executemany(sql, st.rows).rowcount


def _many_returning(conn: sqlite3.Connection, sql: str, st: Any) -> object:
    out: list[Any] = []
    for row in st.rows:
        out += conn.execute(sql, row).fetchall()
    return out


def _many_keys(conn: sqlite3.Connection, sql: str, st: Any) -> object:
    """The rowids of the rows inserted: consecutive (one writer), ending with the last."""
    if len(st.rows) == 1:  # the usual case at low load: no second statement to ask
        return [conn.execute(sql, st.rows[0]).lastrowid]
    conn.executemany(sql, st.rows)
    last = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
    return list(range(last - len(st.rows) + 1, last + 1))


_RUNNERS: dict[type, Callable[[sqlite3.Connection, str, Any], object]] = {
    One: _one,
    All: _all,
    Value: _value,
    Execute: _execute,
    Many: _many,
    ManyReturning: _many_returning,
    ManyKeys: _many_keys,
}

_OVER_ROWS = frozenset({Many, ManyReturning, ManyKeys})  # nothing to do without rows


# A search's REGEX filter runs in the database thread: bounded so a hostile pattern
# (catastrophic backtracking) costs a fraction of a second, not the reader connection.
REGEX_TIMEOUT = 0.2


def regexp(pattern: str, value: object) -> bool:
    """SQLite's `value REGEXP pattern` (search filters), `regex` with a time bound; a
    pattern that runs out of time matches nothing."""
    if value is None:
        return False
    import regex  # loads with the first REGEXP filter, not with every `kestrad run`

    try:
        return regex.search(pattern, str(value), timeout=REGEX_TIMEOUT) is not None
    except (TimeoutError, regex.error):
        return False


def _bind(params: Params) -> Params:
    """List parameters as JSON text, which the SQL reads with `json_each`."""
    for value in params:
        if isinstance(value, list | tuple):
            return [_json.encode(v).decode() if isinstance(v, list | tuple) else v for v in params]
    return params


def _statements(sql: str) -> list[str]:
    """A migration script's statements (sqlite3 runs one per call)."""
    body = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


class SQLiteStore(SQLStore):
    """The Store on one SQLite file."""

    connector: SQLiteConnector

    def __init__(self, path: str, *, synchronous: str = "FULL", liveness_timeout: float = 45.0):
        connector = SQLiteConnector(path, synchronous=synchronous)
        super().__init__(connector, liveness_timeout=liveness_timeout)
