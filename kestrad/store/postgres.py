"""The PostgreSQL store (asyncpg pool): several daemons on one database.

Each Store call is one transaction on one pooled connection, and batches travel as arrays
(`unnest`, `= ANY`), so a call costs a few round trips whatever its size. The executor's
batch claims its messages with `FOR UPDATE SKIP LOCKED` and an advisory lock per
execution id, so one execution's messages are processed in order by one executor at a
time across every daemon. `BatchView` is synchronous (the handler is pure code), so its
answers are fetched before the handler runs; see `_prefetch_view`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from hashlib import blake2b
from typing import Any, TypeVar

import asyncpg
import msgspec

from kestrad.model.execution import Execution, decode_execution
from kestrad.model.messages import Wake, encode
from kestrad.model.state import now_iso
from kestrad.store.base import (
    BatchHandler,
    BatchLocks,
    ExecutionBrief,
    ExecutionRef,
    ExecutorOutcome,
    FlowCount,
    FlowRow,
    InstanceRow,
    KVEntry,
    LeaseLost,
    LocalBatch,
    LogEntry,
    NewLog,
    Outgoing,
    QueueMessage,
    QueueStats,
    SchedulerLease,
    TriggerKey,
    TriggerRow,
    TriggerWindow,
    WindowKey,
)
from kestrad.store.outage import Retry, is_unavailable
from kestrad.store.queries import migrations, queries
from kestrad.store.rows import (
    LOG_PURGE_BATCH,
    SEARCH_FILTERS,
    execution_row,
    flow_row,
    instance_row,
    kv_entry,
    kv_params,
    log_entry,
    pid_alive,
    search_variant,
    trigger_row,
)

T = TypeVar("T")
Q = queries("postgres")
log = logging.getLogger("kestrad.store.postgres")
# NOTIFY channels of the queue inserts (see queries.sql): wake-up hints, never the truth.
EXECUTION_CHANNEL = "kestrad_execution"
WORKER_CHANNEL = "kestrad_worker"
_LISTEN_PING = 30.0  # seconds between checks that the listening connection is alive
# Probe an idle link after 10 s, every 5 s, dead after 3 misses; unacknowledged sends
# fail after 30 s (milliseconds). See _keepalive.
_KEEPALIVE = (
    ("TCP_KEEPIDLE", 10),
    ("TCP_KEEPINTVL", 5),
    ("TCP_KEEPCNT", 3),
    ("TCP_USER_TIMEOUT", 30_000),
)
_CONNECT_TIMEOUT = 10.0  # seconds to open the LISTEN connection (asyncpg's default is 60)
_CLOSE_TIMEOUT = 5.0  # seconds a clean pool close may take before it is cut
_WAKE = encode(Wake())
_FIRST_PAGE = ("~", "")  # sorts after every ISO-8601 date
# Taken while migrating, so daemons starting together apply each migration once.
_MIGRATION_LOCK = 0x6B657374
# Transaction-level advisory locks, two-int4 form (a space apart from the one-bigint
# `hashtext(key)` locks of the queue): (class, key). See _lock_batch and _insert_logs.
_FLOW_LOCKS = 0x6B66  # per flow with a concurrency limit
_WINDOW_LOCKS = 0x6B77  # per Flow-trigger window
_LOG_LOCK = 0x6B6C  # one, with key 0: log seqs are drawn in commit order

Conn = asyncpg.Connection


class PostgresStore:
    """Store protocol on one PostgreSQL database."""

    def __init__(
        self,
        url: str,
        *,
        liveness_timeout: float = 45.0,
        min_size: int = 0,
        max_size: int = 10,
    ) -> None:
        """`min_size` 0: asyncpg (0.32+) keeps a pool's floor with a task of its own that
        logs a traceback per failed reconnect while the server is down; the loops' polls
        keep connections open anyway, and reconnect on acquire after an outage."""
        self.url = url
        self.liveness_timeout = liveness_timeout
        self.min_size = min_size
        self.max_size = max_size
        self._pool: asyncpg.Pool | None = None

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> PostgresStore:
        return cls(url, **kwargs)

    # -- plumbing -----------------------------------------------------------------------------
    # A call that fails because the server went away (restart, network) expires the pool:
    # its other idle connections may be dead too, and each would fail once more when next
    # used. Expired ones are replaced on acquire (asyncpg reconnects), so the retry of the
    # caller (see store/outage.py) gets a fresh connection.
    async def _write(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run `fn(conn, *args)` in one transaction; rolled back on any error."""
        assert self._pool is not None, "store not open"
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                return await fn(conn, *args)
        except Exception as exc:
            await self._expire_if_unavailable(exc)
            raise

    async def _fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        assert self._pool is not None, "store not open"
        try:
            return await self._pool.fetch(Q[query], *args)
        except Exception as exc:
            await self._expire_if_unavailable(exc)
            raise

    async def _fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        assert self._pool is not None, "store not open"
        try:
            return await self._pool.fetchrow(Q[query], *args)
        except Exception as exc:
            await self._expire_if_unavailable(exc)
            raise

    async def _execute(self, query: str, *args: Any) -> str:
        assert self._pool is not None, "store not open"
        try:
            return await self._pool.execute(Q[query], *args)
        except Exception as exc:
            await self._expire_if_unavailable(exc)
            raise

    async def _expire_if_unavailable(self, exc: BaseException) -> None:
        if self._pool is not None and is_unavailable(exc):
            await self._pool.expire_connections()

    async def migrate(self) -> None:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=self.min_size,
                max_size=self.max_size,
                timeout=_CONNECT_TIMEOUT,
                init=_keepalive,
            )
        await self._write(_migrate)

    async def listen(self, wakes: dict[str, asyncio.Event]) -> None:
        """Set `wakes[channel]` on every NOTIFY of that channel, until cancelled.

        A dedicated connection (outside the pool: LISTEN is per session). Notices are only
        hints that cut a consumer's back-off short; a lost connection (a server restart)
        is opened again with back-off, reported like any database outage, and every event
        is set on (re)connect since notices sent meanwhile are lost. Nothing waits on this
        for correctness: the timed poll still runs.
        """
        retry = Retry(self, "listening for queue notifications")
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self.url, timeout=_CONNECT_TIMEOUT)
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
                        await conn.fetchval(Q["ping"])
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

    async def close(self) -> None:
        """Close the pool; connections a dead server left hanging are cut, not awaited."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), _CLOSE_TIMEOUT)
        except Exception:
            pool.terminate()

    # -- flows --------------------------------------------------------------------------------
    async def save_flow(
        self, namespace: str, flow_id: str, source: str, digest: str, file: str | None
    ) -> FlowRow:
        return await self._write(_save_flow, namespace, flow_id, source, digest, file)

    async def set_flow_flags(self, row: FlowRow, *, disabled: bool, deleted: bool) -> None:
        await self._execute(
            "flow_set_flags", disabled, deleted, now_iso(), row.namespace, row.id, row.revision
        )

    async def get_flow(
        self, namespace: str, flow_id: str, revision: int | None = None
    ) -> FlowRow | None:
        assert self._pool is not None, "store not open"
        async with self._pool.acquire() as conn:
            return await _get_flow(conn, namespace, flow_id, revision)

    async def list_flows(self) -> list[FlowRow]:
        return [flow_row(r) for r in await self._fetch("flow_list_latest")]

    # -- executions ---------------------------------------------------------------------------
    async def create_executions(self, executions: list[Execution]) -> None:
        async def run(conn: Conn) -> None:
            await _upsert_executions(conn, executions)
            await _insert_messages(
                conn, "queue_execution_insert", [_wake(e.id) for e in executions]
            )

        await self._write(run)

    async def get_execution(self, execution_id: str) -> Execution | None:
        row = await self._fetchrow("execution_get", execution_id)
        return decode_execution(row[0]) if row else None

    async def list_executions(
        self,
        *,
        namespace: str | None = None,
        flow_id: str | None = None,
        state: str | None = None,
        limit: int = 100,
    ) -> list[Execution]:
        return await self.search_executions(
            namespace=namespace, flow_id=flow_id, state=state, limit=limit
        )

    async def executions_triggered_by(self, execution_id: str) -> list[Execution]:
        rows = await self._fetch("execution_by_trigger", execution_id)
        return [decode_execution(r[0]) for r in rows]

    async def publish_events(self, messages: list[Outgoing]) -> None:
        async def run(conn: Conn) -> None:
            await _insert_messages(conn, "queue_execution_insert", messages)

        await self._write(run)

    # -- queue --------------------------------------------------------------------------------
    async def executor_batch(
        self, limit: int, handler: BatchHandler, local: LocalBatch | None = None
    ) -> ExecutorOutcome | None:
        return await self._write(_executor_batch, limit, handler, local or LocalBatch())

    async def next_event_due(self) -> float | None:
        row = await self._fetchrow("queue_execution_next_due")
        return row[0] if row else None

    async def claim_worker_jobs(
        self, instance_id: str, limit: int, *, at: float | None = None
    ) -> list[QueueMessage]:
        rows = await self._fetch("queue_worker_claim", instance_id, at or time.time(), limit)
        messages = [QueueMessage(seq=r[0], key=r[1], payload=r[2]) for r in rows]
        return sorted(messages, key=lambda m: m.seq)

    async def release_worker_claims(self, instance_id: str, stamps: list[float]) -> int:
        if not stamps:
            return 0
        return _rowcount(await self._execute("queue_worker_release_stamps", instance_id, stamps))

    async def complete_worker_jobs(
        self, results: list[Outgoing], done: list[int], logs: list[NewLog]
    ) -> list[LogEntry]:
        async def run(conn: Conn) -> list[LogEntry]:
            await _insert_messages(conn, "queue_execution_insert", results)
            if done:
                await conn.execute(Q["queue_worker_delete"], done)
            return await _insert_logs(conn, logs)  # last: see _insert_logs

        return await self._write(run)

    # -- logs ---------------------------------------------------------------------------------
    async def append_logs(self, logs: list[NewLog]) -> list[LogEntry]:
        return await self._write(_insert_logs, logs)

    async def list_logs(
        self, execution_id: str, after: int = 0, limit: int = 10_000
    ) -> list[LogEntry]:
        rows = await self._fetch("log_list", execution_id, after, limit)
        return [log_entry(r) for r in rows]

    # -- service instances --------------------------------------------------------------------
    async def register_instance(self, instance_id: str, roles: str) -> None:
        host, timeout = socket.gethostname(), self.liveness_timeout

        async def run(conn: Conn) -> None:
            now = time.time()
            for iid, ihost, pid, beat in await conn.fetch(Q["instance_running"]):
                dead_here = ihost == host and not pid_alive(pid)
                if dead_here or beat < now - timeout:
                    await conn.execute(Q["instance_set_state"], "DEAD", iid)
            await conn.execute(
                Q["instance_register"], instance_id, host, os.getpid(), roles, now, now
            )
            await conn.execute(Q["queue_worker_release_dead"])

        await self._write(run)

    async def heartbeat(self, instance_id: str) -> None:
        await self._execute("instance_heartbeat", time.time(), instance_id)

    async def stop_instance(self, instance_id: str) -> None:
        async def run(conn: Conn) -> None:
            await conn.execute(Q["instance_set_state"], "STOPPED", instance_id)
            await conn.execute(Q["queue_worker_release_dead"])

        await self._write(run)

    async def disconnect_silent_instances(
        self, instance_id: str, silent_since: float, purge_before: float
    ) -> list[str]:
        async def run(conn: Conn) -> list[str]:
            rows = await conn.fetch(Q["instance_disconnect_silent"], silent_since, instance_id)
            gone = [r[0] for r in rows]
            if gone:
                await conn.execute(Q["queue_worker_release_instances"], gone)
            await conn.execute(Q["instance_purge"], purge_before)
            return gone

        return await self._write(run)

    async def list_instances(self) -> list[InstanceRow]:
        return [instance_row(r) for r in await self._fetch("instance_list")]

    # -- API and metrics reads ----------------------------------------------------------------
    async def search_executions(
        self,
        *,
        namespace: str | None = None,
        flow_id: str | None = None,
        state: str | None = None,
        after: tuple[str, str] | None = None,
        limit: int = 25,
        offset: int = 0,
    ) -> list[Execution]:
        """Newest first; `after` is the (start date, id) of the last row of the previous page."""
        variant = search_variant(namespace, flow_id, state)
        filters = _filters(variant, namespace, flow_id, state)
        args = (*filters, *(after or _FIRST_PAGE), limit, offset)
        rows = await self._fetch("execution_search_" + variant, *args)
        return [decode_execution(r[0]) for r in rows]

    async def count_executions(
        self,
        *,
        namespace: str | None = None,
        flow_id: str | None = None,
        state: str | None = None,
    ) -> int:
        variant = search_variant(namespace, flow_id, state)
        row = await self._fetchrow(
            "execution_count_" + variant, *_filters(variant, namespace, flow_id, state)
        )
        assert row is not None
        return int(row[0])

    async def active_executions(self) -> list[tuple[str, str]]:
        """(id, state) of every execution not in a terminal state."""
        return [(r[0], r[1]) for r in await self._fetch("execution_active")]

    async def queue_stats(self, now: float) -> list[QueueStats]:
        out = []
        for topic in ("execution", "worker"):
            row = await self._fetchrow(f"queue_{topic}_stats", now)
            assert row is not None
            out.append(QueueStats(topic=topic, depth=int(row[0]), oldest_due=row[1]))
        return out

    async def ping(self) -> None:
        await self._fetchrow("ping")

    # -- daemon: drain and the `logs` command -------------------------------------------------
    async def count_worker_claims(self, instance_id: str) -> int:
        row = await self._fetchrow("queue_worker_claimed_count", instance_id)
        return int(row[0]) if row else 0

    async def search_logs(
        self,
        *,
        after: int = 0,
        execution_id: str | None = None,
        namespace: str | None = None,
        flow_id: str | None = None,
        levels: list[str] | None = None,
        limit: int = 1000,
    ) -> list[LogEntry]:
        rows = await self._fetch(
            "log_search_after", after, execution_id, namespace, flow_id, levels, limit
        )
        return [log_entry(r) for r in rows]

    async def latest_logs(
        self,
        *,
        execution_id: str | None = None,
        namespace: str | None = None,
        flow_id: str | None = None,
        levels: list[str] | None = None,
        limit: int = 100,
    ) -> list[LogEntry]:
        rows = await self._fetch(
            "log_search_latest", execution_id, namespace, flow_id, levels, limit
        )
        return [log_entry(r) for r in reversed(rows)]

    # -- scheduler: trigger states ------------------------------------------------------------
    async def load_triggers(self) -> list[TriggerRow]:
        return [trigger_row(r) for r in await self._fetch("trigger_load_all")]

    async def save_trigger_states(
        self,
        states: list[TriggerRow],
        executions: list[Execution],
        *,
        deleted: list[TriggerKey] | None = None,
        logs: list[NewLog] | None = None,
        lease: SchedulerLease | None = None,
    ) -> None:
        async def run(conn: Conn) -> None:
            if lease is not None and not await _claim_lease(conn, lease):
                raise LeaseLost(lease.holder)
            if executions:
                await _upsert_executions(conn, executions)
                wakes = [_wake(e.id) for e in executions if not e.terminated]
                await _insert_messages(conn, "queue_execution_insert", wakes)
            if deleted:
                await conn.executemany(Q["trigger_delete"], deleted)
            if states:
                await conn.executemany(Q["trigger_upsert"], [_trigger_params(s) for s in states])
            await _insert_logs(conn, logs or [])  # last: see _insert_logs

        await self._write(run)

    async def claim_scheduler_lease(self, lease: SchedulerLease) -> bool:
        return await self._write(_claim_lease, lease)

    async def release_scheduler_lease(self, holder: str) -> None:
        await self._execute("scheduler_lease_release", holder)

    async def scheduler_lease_holder(self) -> tuple[str, float] | None:
        row = await self._fetchrow("scheduler_lease_get")
        return (row["holder"], float(row["remaining"])) if row else None

    async def get_trigger(self, namespace: str, flow_id: str, trigger_id: str) -> TriggerRow | None:
        row = await self._fetchrow("trigger_get", namespace, flow_id, trigger_id)
        return trigger_row(row) if row else None

    async def list_triggers(
        self, *, namespace: str | None = None, flow_id: str | None = None, limit: int = 1000
    ) -> list[TriggerRow]:
        rows = await self._fetch("trigger_list", namespace, flow_id, limit)
        return [trigger_row(r) for r in rows]

    async def triggers_updated_since(self, since: float) -> list[TriggerRow]:
        return [trigger_row(r) for r in await self._fetch("trigger_updated_since", since)]

    async def execution_briefs(self, execution_ids: list[str]) -> list[ExecutionBrief]:
        if not execution_ids:
            return []
        rows = await self._fetch("execution_states_of", execution_ids)
        return [ExecutionBrief(id=r[0], state=r[1], start_date=r[2]) for r in rows]

    # -- KV store and maintenance tasks (MaintenanceStore) ------------------------------------
    async def kv_get(self, namespace: str, key: str) -> KVEntry | None:
        row = await self._fetchrow("kv_get", namespace, key)
        return kv_entry(row) if row else None

    async def kv_set(self, entry: KVEntry, *, overwrite: bool = True) -> bool:
        if overwrite:
            await self._execute("kv_upsert", *kv_params(entry))
            return True
        row = await self._fetchrow("kv_insert_unless_live", *kv_params(entry), time.time())
        return row is not None

    async def kv_delete(self, namespace: str, key: str) -> bool:
        return _rowcount(await self._execute("kv_delete", namespace, key)) > 0

    async def kv_list(self, namespace: str | None = None) -> list[KVEntry]:
        return [kv_entry(r) for r in await self._fetch("kv_list", namespace)]

    async def kv_stamp(self) -> tuple[int, float]:
        row = await self._fetchrow("kv_stamp")
        assert row is not None
        return int(row[0]), float(row[1])

    async def count_executions_by_flow(
        self,
        *,
        start: str | None,
        end: str | None,
        states: list[str] | None = None,
        namespaces: list[str] | None = None,
        flows: list[tuple[str, str]] | None = None,
    ) -> list[FlowCount]:
        wanted = [f"{ns}/{fid}" for ns, fid in flows] if flows else None
        rows = await self._fetch("execution_count_by_flow", start, end, states, namespaces, wanted)
        return [FlowCount(namespace=r[0], flow_id=r[1], count=r[2]) for r in rows]

    async def ended_executions(
        self,
        *,
        states: list[str],
        end: str,
        start: str | None = None,
        namespace: str | None = None,
        flow_id: str | None = None,
        after: str = "",
        limit: int = 100,
    ) -> list[ExecutionRef]:
        rows = await self._fetch(
            "execution_ended_page", states, end, start, namespace, flow_id, after, limit
        )
        return [ExecutionRef(id=r[0], namespace=r[1], flow_id=r[2]) for r in rows]

    async def delete_executions(
        self, ids: list[str], *, executions: bool = True, logs: bool = True
    ) -> tuple[int, int]:
        async def run(conn: Conn) -> tuple[int, int]:
            deleted_logs = deleted = 0
            if logs:
                deleted_logs = _rowcount(await conn.execute(Q["log_delete_execution"], ids))
            if executions:
                deleted = _rowcount(await conn.execute(Q["execution_delete"], ids))
                await _delete_messages(conn, ids)
            return deleted, deleted_logs

        return await self._write(run)

    async def purge_logs(
        self,
        *,
        end: str,
        start: str | None = None,
        namespace: str | None = None,
        flow_id: str | None = None,
        execution_id: str | None = None,
        levels: list[str] | None = None,
    ) -> int:
        """In batches of LOG_PURGE_BATCH lines, each its own transaction."""
        total = 0
        while True:
            status = await self._execute(
                "log_purge", end, start, namespace, flow_id, execution_id, levels, LOG_PURGE_BATCH
            )
            deleted = _rowcount(status)
            total += deleted
            if deleted < LOG_PURGE_BATCH:
                return total


# -- row conversions --------------------------------------------------------------------------
def _rowcount(status: str) -> int:
    """Rows touched, from a command tag such as `DELETE 3`."""
    return int(status.rsplit(" ", 1)[-1])


def _filters(
    variant: str, namespace: str | None, flow_id: str | None, state: str | None
) -> tuple[Any, ...]:
    """The filter parameters each search/count variant takes, in its own order."""
    given = {"namespace": namespace, "flow_id": flow_id, "state": state}
    return tuple(given[name] for name in SEARCH_FILTERS[variant])


def _wake(execution_id: str) -> Outgoing:
    return Outgoing(key=execution_id, payload=_WAKE)


def _trigger_params(s: TriggerRow) -> tuple[Any, ...]:
    backfill = msgspec.json.encode(s.backfill).decode() if s.backfill is not None else None
    return (
        s.namespace,
        s.flow_id,
        s.trigger_id,
        s.next_fire_at,
        s.execution_id,
        s.disabled,
        backfill,
        s.fingerprint,
        s.updated,
        s.last_fire_at,
    )


_decode_results = msgspec.json.Decoder(dict[str, float]).decode


async def _keepalive(conn: Conn) -> None:
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


async def _claim_lease(conn: Conn, lease: SchedulerLease) -> bool:
    return await conn.fetchval(Q["scheduler_lease_claim"], lease.holder, lease.seconds) is not None


def _window(r: Sequence[Any]) -> TriggerWindow:
    return TriggerWindow(
        namespace=r[0],
        flow_id=r[1],
        trigger_id=r[2],
        condition_id=r[3],
        start=r[4],
        end=r[5],
        results=_decode_results(r[6]),
        outputs=msgspec.json.decode(r[7]) if r[7] else None,
    )


def _columns(rows: Iterable[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows → one list per column: the arrays `unnest` inserts take."""
    out: list[list[Any]] = [[] for _ in range(width)]
    for row in rows:
        for i, value in enumerate(row):
            out[i].append(value)
    return out


# -- functions run inside one transaction -----------------------------------------------------
async def _migrate(conn: Conn) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied TEXT NOT NULL)"
    )
    done = {r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")}
    for version, name, sql in migrations("postgres"):
        if version in done:
            continue
        await conn.execute(sql)
        await conn.execute(
            "INSERT INTO schema_migrations (version, name, applied) VALUES ($1, $2, $3)",
            version,
            name,
            now_iso(),
        )


async def _get_flow(
    conn: Conn, namespace: str, flow_id: str, revision: int | None
) -> FlowRow | None:
    if revision is None:
        row = await conn.fetchrow(Q["flow_latest"], namespace, flow_id)
    else:
        row = await conn.fetchrow(Q["flow_revision"], namespace, flow_id, revision)
    return flow_row(row) if row else None


async def _save_flow(
    conn: Conn, namespace: str, flow_id: str, source: str, digest: str, file: str | None
) -> FlowRow:
    # Serializes saves of one flow across daemons: two new revisions never get one number.
    await conn.execute(Q["queue_key_lock"], [f"flow:{namespace}/{flow_id}"])
    latest = await _get_flow(conn, namespace, flow_id, None)
    if latest is not None and latest.hash == digest:
        if latest.disabled or latest.deleted or latest.file != file:
            await conn.execute(
                Q["flow_restore"], file, now_iso(), namespace, flow_id, latest.revision
            )
            latest.disabled = latest.deleted = False
            latest.file = file
        return latest
    revision = latest.revision + 1 if latest else 1
    await conn.execute(
        Q["flow_insert"], namespace, flow_id, revision, source, digest, file, now_iso()
    )
    return FlowRow(
        namespace=namespace, id=flow_id, revision=revision, source=source, hash=digest, file=file
    )


async def _upsert_executions(conn: Conn, executions: list[Execution]) -> None:
    if executions:
        await conn.execute(Q["execution_upsert"], *_columns(map(execution_row, executions), 9))


def _setter(event: asyncio.Event) -> Callable[..., None]:
    """An asyncpg notification callback that only sets `event`."""

    def on_notice(*_args: Any) -> None:
        event.set()

    return on_notice


async def _delete_messages(conn: Conn, keys: list[str]) -> None:
    """Every queue message keyed by these executions (ended or purged): see queries.sql."""
    if keys:
        await conn.execute(Q["queue_execution_delete_keys"], keys)
        await conn.execute(Q["queue_worker_delete_keys"], keys)


async def _insert_messages(conn: Conn, query: str, messages: list[Outgoing]) -> None:
    if not messages:
        return
    now = time.time()
    rows = ((m.key, m.payload, m.available_at or now) for m in messages)
    await conn.execute(Q[query], *_columns(rows, 3))


async def _insert_logs(conn: Conn, logs: list[NewLog]) -> list[LogEntry]:
    """Insert log lines; their `seq` comes from the BIGSERIAL, in the order given.

    MUST be the last statement of its transaction. Followers (SSE `Last-Event-ID`,
    `kestrad logs -f`) read `seq > cursor`, so a line must never commit after a line with
    a larger seq became visible, or a follower past it skips it forever. The insert first
    takes one transaction-level advisory lock (`_LOG_LOCK`, in the same statement, before
    any seq is drawn) and holds it until the commit: seqs are drawn in commit order. Taken
    last, the lock is held only for the insert and the commit, and its holder never waits
    for another lock, so it cannot deadlock. Why not a "safe horizon" in the readers
    instead (return only seqs below the oldest transaction in flight, by
    pg_snapshot_xmin): one long write transaction anywhere on the server would stall
    every follower, and this daemon's own followers, fed by the hub in commit order,
    would still jump ahead of another connection's smaller seq committed later.
    """
    if not logs:
        return []
    rows = (
        (
            log.execution_id,
            log.namespace,
            log.flow_id,
            log.task_id,
            log.task_run_id,
            log.attempt,
            log.level,
            log.timestamp,
            log.message,
        )
        for log in logs
    )
    seqs = await conn.fetch(Q["log_insert"], *_columns(rows, 9), _LOG_LOCK)
    return [
        LogEntry(
            seq=seq[0],
            execution_id=log.execution_id,
            namespace=log.namespace,
            flow_id=log.flow_id,
            task_id=log.task_id,
            task_run_id=log.task_run_id,
            attempt=log.attempt,
            level=log.level,
            timestamp=log.timestamp,
            message=log.message,
        )
        for seq, log in zip(seqs, logs, strict=True)
    ]


async def _executor_batch(
    conn: Conn, limit: int, handler: BatchHandler, local: LocalBatch
) -> ExecutorOutcome | None:
    # Keys handed over in memory are processed now whatever happens: wait for their locks
    # first (sorted, so two executors never wait on each other), then claim from the table
    # with try-locks only.
    local_keys = sorted({m.key for m in local.results} | {e.id for e in local.created})
    if local_keys:
        await conn.execute(Q["queue_key_lock"], local_keys)
    rows = await conn.fetch(Q["queue_execution_poll"], time.time(), limit)
    if not rows and local.empty():
        return None
    if local.done:
        await conn.execute(Q["queue_worker_delete"], local.done)
    await _upsert_executions(conn, local.created)
    messages = [QueueMessage(seq=r[0], key=r[1], payload=r[2]) for r in rows]
    messages += [QueueMessage(seq=0, key=m.key, payload=m.payload) for m in local.results]
    messages += [QueueMessage(seq=0, key=e.id, payload=_WAKE) for e in local.created]
    if not messages:
        return ExecutorOutcome(stored_logs=await _insert_logs(conn, local.logs))
    executions: dict[str, Execution] = {e.id: e for e in local.created}
    stored_keys = [k for k in dict.fromkeys(m.key for m in messages) if k not in executions]
    if stored_keys:
        for (value,) in await conn.fetch(Q["execution_get_many"], stored_keys):
            execution = decode_execution(value)
            executions[execution.id] = execution
    missing = handler.missing_flows(executions.values())
    if missing:
        found = [await _get_flow(conn, *key) for key in missing]
        handler.add_flows([row for row in found if row is not None])
    declare = getattr(handler, "batch_locks", None)  # absent: the handler reads no view
    locks = declare(executions.values()) if declare is not None else BatchLocks()
    view = await _prefetch_view(conn, executions.values(), locks)
    outcome = handler.process(messages, executions, view)
    await _upsert_executions(conn, outcome.new_executions)
    await _upsert_executions(conn, outcome.executions)
    await _delete_messages(conn, [e.id for e in outcome.ended])  # before this batch's own
    await _insert_messages(conn, "queue_execution_insert", outcome.execution_messages)
    outcome.claimed_jobs = await _insert_jobs(conn, outcome.worker_jobs, local)
    await _write_trigger_windows(conn, outcome.trigger_windows)
    if outcome.released_triggers:
        await conn.executemany(Q["trigger_release_lock"], outcome.released_triggers)
    if rows:
        await conn.execute(Q["queue_execution_delete"], [r[0] for r in rows])
    outcome.stored_logs = await _insert_logs(conn, local.logs + outcome.logs)  # last
    outcome.consumed = len(messages)
    return outcome


class _PrefetchedView:
    """BatchView answered from reads made in the batch's transaction before `process`.

    The handler is synchronous and asyncpg is not, so reads cannot happen on demand: the
    handler declares what it may ask (`BatchHandler.batch_locks`), and `_prefetch_view`
    locks and reads exactly that. Running counts and queued ids (enough for every
    execution of the batch to wake one) are read for the flows with a concurrency limit,
    and only the declared Flow-trigger windows (None: no row). A question outside that
    set is a bug, not a zero: it raises, and the batch runs again.
    """

    def __init__(
        self,
        running: dict[tuple[str, str], int],
        queued: dict[tuple[str, str], list[str]],
        windows: dict[WindowKey, TriggerWindow | None],
    ) -> None:
        self._running = running
        self._queued = queued
        self._windows = windows

    def running_count(self, namespace: str, flow_id: str) -> int:
        return self._running[(namespace, flow_id)]

    def queued_ids(self, namespace: str, flow_id: str, limit: int) -> list[str]:
        return self._queued[(namespace, flow_id)][:limit]

    def trigger_window(
        self, namespace: str, flow_id: str, trigger_id: str, condition_id: str
    ) -> TriggerWindow | None:
        key = (namespace, flow_id, trigger_id, condition_id)
        if key not in self._windows:
            raise LookupError(f"trigger window {key} was not declared by the batch")
        return self._windows[key]


async def _prefetch_view(
    conn: Conn, executions: Iterable[Execution], locks: BatchLocks
) -> _PrefetchedView:
    """Lock what the batch declared (`_lock_batch`), then read it: counts and windows read
    after the lock see every commit of the transaction that held it before (READ
    COMMITTED: each statement takes a new snapshot)."""
    await _lock_batch(conn, locks)
    flows = sorted(locks.flows)
    running = dict.fromkeys(flows, 0)
    queued: dict[tuple[str, str], list[str]] = {key: [] for key in flows}
    if flows:
        names, ids = _columns(flows, 2)
        for ns, fid, count in await conn.fetch(Q["execution_running_counts"], names, ids):
            running[(ns, fid)] = count
        # Enough for every end of the batch to wake one, plus the slots free already.
        free = max(max(0, limit - running[key]) for key, limit in locks.flows.items())
        wake = len(list(executions)) + free + 1
        for ns, fid, execution_id in await conn.fetch(Q["execution_queued_ids"], names, ids, wake):
            queued[(ns, fid)].append(execution_id)
    windows: dict[WindowKey, TriggerWindow | None] = dict.fromkeys(locks.windows)
    if locks.windows:
        rows = await conn.fetch(Q["trigger_window_get_many"], *_columns(sorted(locks.windows), 4))
        windows.update((w.key, w) for w in map(_window, rows))
    return _PrefetchedView(running, queued, windows)


def _lock_key(text: str) -> int:
    """A stable int4 for an advisory lock key (the same in every daemon, unlike hash())."""
    return int.from_bytes(blake2b(text.encode(), digest_size=4).digest(), "big", signed=True)


async def _lock_batch(conn: Conn, locks: BatchLocks) -> None:
    """Serialize, across daemons, the batches that read and write one flow's running
    count or one Flow-trigger window: a transaction-level advisory lock per (namespace,
    flow id) with a concurrency limit and per window, held until the commit.

    Why advisory locks and not `SELECT … FOR UPDATE` on a per-flow counter row: a
    counter must be kept right by every state change of every execution (a second truth
    beside `executions.state`, and a row version per change), while the lock costs one
    statement per batch, writes nothing, and lets the count keep coming from the
    executions themselves. Windows have rows already, but a window not yet created has
    none to lock, so they take the same kind of lock. Keys are sorted (flows, then
    windows; two keys hashed alike just share a lock) and taken after the execution key
    locks, so two batches never wait on each other in opposite orders. Batches without
    a limited flow or a precondition window take nothing.
    """
    keys = sorted(
        {(_FLOW_LOCKS, _lock_key("\0".join(flow))) for flow in locks.flows}
        | {(_WINDOW_LOCKS, _lock_key("\0".join(window))) for window in locks.windows}
    )
    if keys:
        await conn.execute(Q["batch_lock"], *_columns(keys, 2))


async def _write_trigger_windows(
    conn: Conn, windows: dict[WindowKey, TriggerWindow | None]
) -> None:
    """Upsert or delete the Flow-trigger windows a batch touched; purge expired ones."""
    if not windows:
        return
    gone = [k for k, w in windows.items() if w is None]
    if gone:
        await conn.executemany(Q["trigger_window_delete"], gone)
    kept = [
        (
            *w.key,
            w.start,
            w.end,
            msgspec.json.encode(w.results).decode(),
            msgspec.json.encode(w.outputs).decode() if w.outputs else None,
        )
        for w in windows.values()
        if w is not None
    ]
    if kept:
        await conn.executemany(Q["trigger_window_upsert"], kept)
    # Other windows (past their end) are purged only when no other batch holds them.
    await conn.execute(Q["trigger_window_delete_expired_free"], time.time())


async def _insert_jobs(conn: Conn, jobs: list[Outgoing], local: LocalBatch) -> list[QueueMessage]:
    """Insert worker jobs; the first `claim_limit` already claimed by the local worker."""
    take = min(local.claim_limit, len(jobs)) if local.claim_for else 0
    claimed: list[QueueMessage] = []
    if take:
        keys, payloads = _columns(((j.key, j.payload) for j in jobs[:take]), 2)
        rows = await conn.fetch(
            Q["queue_worker_insert_claimed"],
            keys,
            payloads,
            local.claimed_at or time.time(),
            local.claim_for,
        )
        claimed = [QueueMessage(seq=r[0], key=r[1], payload=r[2]) for r in rows]
    await _insert_messages(conn, "queue_worker_insert", jobs[take:])
    return claimed
