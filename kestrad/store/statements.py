"""What a plan asks its connector for, and the connector's side of the bargain.

A plan is a generator holding one store operation's domain logic, written once for every
dialect: it yields statements (a named query of `sql/<dialect>/queries.sql` and its
positional parameters), the connector runs each in the plan's transaction and sends the
result back in, and the plan's return value is the operation's answer:

    def get_flow(namespace: str, flow_id: str) -> Plan[FlowRow | None]:
        row = yield One("flow_latest", (namespace, flow_id))
        return flow_row(row) if row else None

Why generators rather than async functions over a connection: SQLite must run a whole
transaction as ONE call into aiosqlite's thread (each hop costs ~100 µs), where a plain
generator can be driven synchronously; PostgreSQL drives the same generator with awaits.

The rules every dialect's SQL keeps (what differs between dialects is SQL text only):
- parameters are positional, in the same order in both files (`?N` / `$N`);
- a list parameter is JSON text in SQLite (read with `json_each`) and an array in
  PostgreSQL (`= ANY`, `unnest`); the rows of `Many` hold scalars only;
- `Many` is one statement over many rows: `executemany` in SQLite, one call in PostgreSQL
  with the rows transposed to one array per column (`unnest`);
- a query whose SQL is empty does nothing in that dialect (an advisory lock where SQLite's
  single writer serialises already): the connector skips it and answers `nothing()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Sequence
from typing import Any, NamedTuple, Protocol, TypeVar

from kestrad.store.outage import Retry

Row = Sequence[Any]  # a sqlite3 tuple or an asyncpg Record, read by position
Params = Sequence[object]


class One(NamedTuple):
    """The first row, or None."""

    name: str
    params: Params = ()


class All(NamedTuple):
    """Every row."""

    name: str
    params: Params = ()


class Value(NamedTuple):
    """The first column of the first row, or None."""

    name: str
    params: Params = ()


class Execute(NamedTuple):
    """The number of rows changed."""

    name: str
    params: Params = ()


class Many(NamedTuple):
    """The same statement over each of `rows`; the number of rows changed in all. No rows:
    nothing runs."""

    name: str
    rows: Sequence[Params]


class ManyReturning(NamedTuple):
    """The same query over each of `rows`; the rows they return, in input order."""

    name: str
    rows: Sequence[Params]


class ManyKeys(NamedTuple):
    """The same insert over each of `rows` (one row each, its key left to the database);
    the key generated for each, in input order.

    Why not `ManyReturning` with `RETURNING`: SQLite runs an insert with RETURNING one row
    at a time, five times slower than `executemany`; the keys of rows one statement
    inserts with a single writer are consecutive, so the last one tells them all.
    """

    name: str
    rows: Sequence[Params]


class Script(NamedTuple):
    """Raw SQL, several statements (a migration file): no parameters, no result."""

    sql: str


class Cond(NamedTuple):
    """One search condition: fragment `where_<fragment>` of queries.sql on `column`."""

    fragment: str
    column: str
    params: Params


class AnyOf(NamedTuple):
    """An OR of its members, each an AND of its conditions."""

    members: Sequence[Sequence[Cond | AnyOf]]


Where = Sequence[Cond | AnyOf]


class Filtered(NamedTuple):
    """`inner` (a read or a delete) with search conditions at its `/*where*/` mark
    (store/filters.py renders them; their parameters follow the inner statement's)."""

    inner: One | All | Value | Execute
    where: Where


Statement = One | All | Value | Execute | Many | ManyReturning | ManyKeys | Script | Filtered
T = TypeVar("T")
Plan = Generator[Statement, Any, T]


def skipped(statement: Statement, sql: str) -> bool:
    """True when `statement` (whose SQL in this dialect is `sql`) has nothing to do: an
    empty query, or a statement over many rows without rows. It answers `nothing()`."""
    return not sql or (
        isinstance(statement, Many | ManyReturning | ManyKeys) and not statement.rows
    )


def nothing(statement: Statement) -> object:
    """What a skipped statement answers (see `skipped`)."""
    if isinstance(statement, All | ManyReturning | ManyKeys):
        return []
    if isinstance(statement, Execute | Many):
        return 0
    return None


class Connector(Protocol):
    """One dialect's connections: how plans run, nothing about what they do."""

    dialect: str  # the folder of its SQL: sql/<dialect>/

    async def open(self) -> None:
        """Connect (again, if a first attempt failed); a no-op once open."""
        ...

    async def close(self) -> None: ...

    async def write(self, plan: Plan[T], *, transaction: bool = True, fenced: bool = True) -> T:
        """Run `plan` in one write transaction: committed if it returns, rolled back if
        it raises. `transaction=False` only for a plan of exactly one statement, not a
        `Many` (SQLite's `executemany` would commit each row): that statement is then a
        transaction by itself, which saves PostgreSQL its BEGIN and COMMIT round trips.
        A connector given this daemon's lease refuses to commit once the lease is lost
        (store/lease.py); `fenced=False` is for the heartbeat, which is the lease's check."""
        ...

    async def read(self, plan: Plan[T]) -> T:
        """Run a plan that only reads (on a reader connection where there is one)."""
        ...

    async def listen(self, wakes: dict[str, asyncio.Event], retry: Retry) -> None:
        """Set `wakes[channel]` on each notice of that channel until cancelled, reporting
        outages through `retry`; returns at once in a dialect without notices."""
        ...
