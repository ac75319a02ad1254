"""The embedded SQLite store (aiosqlite, WAL, synchronous=FULL).

aiosqlite hops to its thread on every await (~100 µs), so each transaction here is ONE
call into that thread: a plain function over the `sqlite3.Connection`, run through
`Connection._execute`. That keeps group commit cheap: a whole executor batch is one hop
and one fsync. Calls on one connection run in order on its thread, so write transactions
never interleave inside this process; across processes `BEGIN IMMEDIATE` and the busy
timeout serialize them.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import msgspec

from kestrad.config import path_from_url
from kestrad.model.execution import Execution, decode_execution
from kestrad.model.messages import Wake, encode
from kestrad.model.state import now_iso
from kestrad.store.base import (
    BatchHandler,
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
from kestrad.store.queries import migrations, queries
from kestrad.store.rows import (
    LOG_PURGE_BATCH,
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
Q = queries("sqlite")
_WAKE = encode(Wake())


class SQLiteStore:
    """Store protocol on one SQLite file."""

    def __init__(self, path: str, *, synchronous: str = "FULL", liveness_timeout: float = 45.0):
        self.path = path
        self.synchronous = synchronous
        self.liveness_timeout = liveness_timeout
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> SQLiteStore:
        return cls(path_from_url(url), **kwargs)

    # -- plumbing -----------------------------------------------------------------------------
    async def _open(self) -> aiosqlite.Connection:
        conn = aiosqlite.connect(self.path, isolation_level=None, timeout=30.0)
        # A daemon thread: a connection left open (a crash path) never blocks the exit.
        conn._thread.daemon = True
        await conn
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute(f"PRAGMA synchronous={self.synchronous}")
        await conn.execute("PRAGMA busy_timeout=30000")
        await conn.execute("PRAGMA foreign_keys=ON")
        return conn

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(conn, *args)` inside one IMMEDIATE transaction on the writer thread."""
        assert self._writer is not None, "store not open"
        return await self._writer._execute(_in_transaction, self._writer._conn, fn, *args)

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        assert self._reader is not None, "store not open"
        return await self._reader._execute(fn, self._reader._conn, *args)

    async def migrate(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._writer = await self._open()
        await self._write(_migrate)
        self._reader = await self._open()

    async def close(self) -> None:
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None

    # -- flows --------------------------------------------------------------------------------
    async def save_flow(
        self, namespace: str, flow_id: str, source: str, digest: str, file: str | None
    ) -> FlowRow:
        return await self._write(_save_flow, namespace, flow_id, source, digest, file)

    async def set_flow_flags(self, row: FlowRow, *, disabled: bool, deleted: bool) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                Q["flow_set_flags"],
                (int(disabled), int(deleted), now_iso(), row.namespace, row.id, row.revision),
            )

        await self._write(run)

    async def get_flow(
        self, namespace: str, flow_id: str, revision: int | None = None
    ) -> FlowRow | None:
        return await self._read(_get_flow, namespace, flow_id, revision)

    async def list_flows(self) -> list[FlowRow]:
        def run(conn: sqlite3.Connection) -> list[FlowRow]:
            return [flow_row(r) for r in conn.execute(Q["flow_list_latest"])]

        return await self._read(run)

    # -- executions ---------------------------------------------------------------------------
    async def create_executions(self, executions: list[Execution]) -> None:
        def run(conn: sqlite3.Connection) -> None:
            _upsert_executions(conn, executions)
            now = time.time()
            conn.executemany(Q["queue_execution_insert"], [(e.id, _WAKE, now) for e in executions])

        await self._write(run)

    async def get_execution(self, execution_id: str) -> Execution | None:
        def run(conn: sqlite3.Connection) -> Execution | None:
            row = conn.execute(Q["execution_get"], (execution_id,)).fetchone()
            return decode_execution(row[0]) if row else None

        return await self._read(run)

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
        def run(conn: sqlite3.Connection) -> list[Execution]:
            rows = conn.execute(Q["execution_by_trigger"], (execution_id,))
            return [decode_execution(r[0]) for r in rows]

        return await self._read(run)

    async def publish_events(self, messages: list[Outgoing]) -> None:
        def run(conn: sqlite3.Connection) -> None:
            _insert_messages(conn, "queue_execution_insert", messages)

        await self._write(run)

    # -- queue --------------------------------------------------------------------------------
    async def executor_batch(
        self, limit: int, handler: BatchHandler, local: LocalBatch | None = None
    ) -> ExecutorOutcome | None:
        return await self._write(_executor_batch, limit, handler, local or LocalBatch())

    async def next_event_due(self) -> float | None:
        def run(conn: sqlite3.Connection) -> float | None:
            row = conn.execute(Q["queue_execution_next_due"]).fetchone()
            return row[0] if row else None

        return await self._read(run)

    async def claim_worker_jobs(
        self, instance_id: str, limit: int, *, at: float | None = None
    ) -> list[QueueMessage]:
        def run(conn: sqlite3.Connection) -> list[QueueMessage]:
            now = at or time.time()
            rows = conn.execute(Q["queue_worker_poll"], (now, limit)).fetchall()
            conn.executemany(Q["queue_worker_claim"], [(instance_id, now, r[0]) for r in rows])
            return [QueueMessage(seq=r[0], key=r[1], payload=r[2]) for r in rows]

        return await self._write(run)

    async def release_worker_claims(self, instance_id: str, stamps: list[float]) -> int:
        if not stamps:
            return 0

        def run(conn: sqlite3.Connection) -> int:
            cursor = conn.executemany(
                Q["queue_worker_release_stamp"], [(instance_id, stamp) for stamp in stamps]
            )
            return cursor.rowcount

        return await self._write(run)

    async def complete_worker_jobs(
        self, results: list[Outgoing], done: list[int], logs: list[NewLog]
    ) -> list[LogEntry]:
        def run(conn: sqlite3.Connection) -> list[LogEntry]:
            stored = _insert_logs(conn, logs)
            _insert_messages(conn, "queue_execution_insert", results)
            conn.executemany(Q["queue_worker_delete"], [(seq,) for seq in done])
            return stored

        return await self._write(run)

    # -- logs ---------------------------------------------------------------------------------
    async def append_logs(self, logs: list[NewLog]) -> list[LogEntry]:
        return await self._write(_insert_logs, logs)

    async def list_logs(
        self, execution_id: str, after: int = 0, limit: int = 10_000
    ) -> list[LogEntry]:
        def run(conn: sqlite3.Connection) -> list[LogEntry]:
            rows = conn.execute(Q["log_list"], (execution_id, after, limit))
            return [log_entry(r) for r in rows]

        return await self._read(run)

    # -- service instances --------------------------------------------------------------------
    async def register_instance(self, instance_id: str, roles: str) -> None:
        host, timeout = socket.gethostname(), self.liveness_timeout

        def run(conn: sqlite3.Connection) -> None:
            now = time.time()
            for iid, ihost, pid, beat in conn.execute(Q["instance_running"]).fetchall():
                dead_here = ihost == host and not pid_alive(pid)
                if dead_here or beat < now - timeout:
                    conn.execute(Q["instance_set_state"], ("DEAD", iid))
            conn.execute(Q["instance_register"], (instance_id, host, os.getpid(), roles, now, now))
            conn.execute(Q["queue_worker_release_dead"])

        await self._write(run)

    async def heartbeat(self, instance_id: str) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(Q["instance_heartbeat"], (time.time(), instance_id))

        await self._write(run)

    async def stop_instance(self, instance_id: str) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(Q["instance_set_state"], ("STOPPED", instance_id))
            conn.execute(Q["queue_worker_release_dead"])

        await self._write(run)

    async def disconnect_silent_instances(
        self, instance_id: str, silent_since: float, purge_before: float
    ) -> list[str]:
        def run(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(Q["instance_disconnect_silent"], (silent_since, instance_id))
            gone = [r[0] for r in rows.fetchall()]
            conn.executemany(Q["queue_worker_release_instance"], [(i,) for i in gone])
            conn.execute(Q["instance_purge"], (purge_before,))
            return gone

        return await self._write(run)

    async def list_instances(self) -> list[InstanceRow]:
        def run(conn: sqlite3.Connection) -> list[InstanceRow]:
            return [instance_row(r) for r in conn.execute(Q["instance_list"])]

        return await self._read(run)

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
        name = "execution_search_" + search_variant(namespace, flow_id, state)
        after_date, after_id = after or _FIRST_PAGE
        params = {
            "namespace": namespace,
            "flow_id": flow_id,
            "state": state,
            "after_date": after_date,
            "after_id": after_id,
            "limit": limit,
            "offset": offset,
        }

        def run(conn: sqlite3.Connection) -> list[Execution]:
            return [decode_execution(r[0]) for r in conn.execute(Q[name], params)]

        return await self._read(run)

    async def count_executions(
        self,
        *,
        namespace: str | None = None,
        flow_id: str | None = None,
        state: str | None = None,
    ) -> int:
        name = "execution_count_" + search_variant(namespace, flow_id, state)
        params = {"namespace": namespace, "flow_id": flow_id, "state": state}

        def run(conn: sqlite3.Connection) -> int:
            return int(conn.execute(Q[name], params).fetchone()[0])

        return await self._read(run)

    async def active_executions(self) -> list[tuple[str, str]]:
        """(id, state) of every execution not in a terminal state."""

        def run(conn: sqlite3.Connection) -> list[tuple[str, str]]:
            return [(r[0], r[1]) for r in conn.execute(Q["execution_active"])]

        return await self._read(run)

    async def queue_stats(self, now: float) -> list[QueueStats]:
        def run(conn: sqlite3.Connection) -> list[QueueStats]:
            out = []
            for topic in ("execution", "worker"):
                depth, oldest = conn.execute(Q[f"queue_{topic}_stats"], (now,)).fetchone()
                out.append(QueueStats(topic=topic, depth=int(depth), oldest_due=oldest))
            return out

        return await self._read(run)

    async def ping(self) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(Q["ping"]).fetchone()

        await self._read(run)

    # -- daemon: drain and the `logs` command -------------------------------------------------
    async def count_worker_claims(self, instance_id: str) -> int:
        def run(conn: sqlite3.Connection) -> int:
            return conn.execute(Q["queue_worker_claimed_count"], (instance_id,)).fetchone()[0]

        return await self._read(run)

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
        wanted = json.dumps(levels) if levels is not None else None

        def run(conn: sqlite3.Connection) -> list[LogEntry]:
            rows = conn.execute(
                Q["log_search_after"], (after, execution_id, namespace, flow_id, wanted, limit)
            )
            return [log_entry(r) for r in rows]

        return await self._read(run)

    async def latest_logs(
        self,
        *,
        execution_id: str | None = None,
        namespace: str | None = None,
        flow_id: str | None = None,
        levels: list[str] | None = None,
        limit: int = 100,
    ) -> list[LogEntry]:
        wanted = json.dumps(levels) if levels is not None else None

        def run(conn: sqlite3.Connection) -> list[LogEntry]:
            rows = conn.execute(
                Q["log_search_latest"], (execution_id, namespace, flow_id, wanted, limit)
            ).fetchall()
            return [log_entry(r) for r in reversed(rows)]

        return await self._read(run)

    # -- scheduler: trigger states ------------------------------------------------------------
    async def load_triggers(self) -> list[TriggerRow]:
        def run(conn: sqlite3.Connection) -> list[TriggerRow]:
            return [trigger_row(r) for r in conn.execute(Q["trigger_load_all_with_last_fire"])]

        return await self._read(run)

    async def save_trigger_states(
        self,
        states: list[TriggerRow],
        executions: list[Execution],
        *,
        deleted: list[TriggerKey] | None = None,
        logs: list[NewLog] | None = None,
        lease: SchedulerLease | None = None,
    ) -> None:
        def run(conn: sqlite3.Connection) -> None:
            if lease is not None and not _claim_lease(conn, lease):
                raise LeaseLost(lease.holder)
            if executions:
                _upsert_executions(conn, executions)
                now = time.time()
                conn.executemany(
                    Q["queue_execution_insert"],
                    [(e.id, _WAKE, now) for e in executions if not e.terminated],
                )
            _insert_logs(conn, logs or [])
            conn.executemany(Q["trigger_delete"], deleted or [])
            conn.executemany(
                Q["trigger_upsert_with_last_fire"],
                [(*_trigger_params(s), s.last_fire_at) for s in states],
            )

        await self._write(run)

    async def claim_scheduler_lease(self, lease: SchedulerLease) -> bool:
        return await self._write(_claim_lease, lease)

    async def release_scheduler_lease(self, holder: str) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(Q["scheduler_lease_release"], (holder,))

        await self._write(run)

    async def scheduler_lease_holder(self) -> tuple[str, float] | None:
        def run(conn: sqlite3.Connection) -> tuple[str, float] | None:
            row = conn.execute(Q["scheduler_lease_get"], (time.time(),)).fetchone()
            return (row[0], float(row[1])) if row else None

        return await self._read(run)

    async def get_trigger(self, namespace: str, flow_id: str, trigger_id: str) -> TriggerRow | None:
        def run(conn: sqlite3.Connection) -> TriggerRow | None:
            row = conn.execute(Q["trigger_get"], (namespace, flow_id, trigger_id)).fetchone()
            return trigger_row(row) if row else None

        return await self._read(run)

    async def list_triggers(
        self, *, namespace: str | None = None, flow_id: str | None = None, limit: int = 1000
    ) -> list[TriggerRow]:
        def run(conn: sqlite3.Connection) -> list[TriggerRow]:
            rows = conn.execute(Q["trigger_list"], (namespace, flow_id, limit))
            return [trigger_row(r) for r in rows]

        return await self._read(run)

    async def triggers_updated_since(self, since: float) -> list[TriggerRow]:
        def run(conn: sqlite3.Connection) -> list[TriggerRow]:
            return [trigger_row(r) for r in conn.execute(Q["trigger_updated_since"], (since,))]

        return await self._read(run)

    async def execution_briefs(self, execution_ids: list[str]) -> list[ExecutionBrief]:
        if not execution_ids:
            return []
        wanted = json.dumps(execution_ids)

        def run(conn: sqlite3.Connection) -> list[ExecutionBrief]:
            rows = conn.execute(Q["execution_states_of"], (wanted,))
            return [ExecutionBrief(id=r[0], state=r[1], start_date=r[2]) for r in rows]

        return await self._read(run)

    # -- KV store and maintenance tasks (MaintenanceStore) ------------------------------------
    async def kv_get(self, namespace: str, key: str) -> KVEntry | None:
        def run(conn: sqlite3.Connection) -> KVEntry | None:
            row = conn.execute(Q["kv_get"], (namespace, key)).fetchone()
            return kv_entry(row) if row else None

        return await self._read(run)

    async def kv_set(self, entry: KVEntry, *, overwrite: bool = True) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            if not overwrite:
                row = conn.execute(Q["kv_get"], (entry.namespace, entry.key)).fetchone()
                if row is not None and not kv_entry(row).expired(time.time()):
                    return False
            conn.execute(Q["kv_upsert"], kv_params(entry))
            return True

        return await self._write(run)

    async def kv_delete(self, namespace: str, key: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            return conn.execute(Q["kv_delete"], (namespace, key)).rowcount > 0

        return await self._write(run)

    async def kv_list(self, namespace: str | None = None) -> list[KVEntry]:
        def run(conn: sqlite3.Connection) -> list[KVEntry]:
            return [kv_entry(r) for r in conn.execute(Q["kv_list"], (namespace,))]

        return await self._read(run)

    async def kv_stamp(self) -> tuple[int, float]:
        def run(conn: sqlite3.Connection) -> tuple[int, float]:
            count, updated = conn.execute(Q["kv_stamp"]).fetchone()
            return int(count), float(updated)

        return await self._read(run)

    async def count_executions_by_flow(
        self,
        *,
        start: str | None,
        end: str | None,
        states: list[str] | None = None,
        namespaces: list[str] | None = None,
        flows: list[tuple[str, str]] | None = None,
    ) -> list[FlowCount]:
        params = {
            "start": start,
            "end": end,
            "states": _json_or_none(states),
            "namespaces": _json_or_none(namespaces),
            "flows": _json_or_none([f"{ns}/{fid}" for ns, fid in flows] if flows else None),
        }

        def run(conn: sqlite3.Connection) -> list[FlowCount]:
            rows = conn.execute(Q["execution_count_by_flow"], params)
            return [FlowCount(namespace=r[0], flow_id=r[1], count=r[2]) for r in rows]

        return await self._read(run)

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
        params = {
            "states": json.dumps(states),
            "end": end,
            "start": start,
            "namespace": namespace,
            "flow_id": flow_id,
            "after": after,
            "limit": limit,
        }

        def run(conn: sqlite3.Connection) -> list[ExecutionRef]:
            rows = conn.execute(Q["execution_ended_page"], params)
            return [ExecutionRef(id=r[0], namespace=r[1], flow_id=r[2]) for r in rows]

        return await self._read(run)

    async def delete_executions(
        self, ids: list[str], *, executions: bool = True, logs: bool = True
    ) -> tuple[int, int]:
        def run(conn: sqlite3.Connection) -> tuple[int, int]:
            deleted_logs = deleted = 0
            for execution_id in ids:
                if logs:
                    deleted_logs += conn.execute(
                        Q["log_delete_execution"], (execution_id,)
                    ).rowcount
                if executions:
                    deleted += conn.execute(Q["execution_delete"], (execution_id,)).rowcount
            if executions:
                _delete_messages(conn, ids)
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
        params = {
            "end": end,
            "start": start,
            "namespace": namespace,
            "flow_id": flow_id,
            "execution_id": execution_id,
            "levels": _json_or_none(levels),
            "limit": LOG_PURGE_BATCH,
        }

        def run(conn: sqlite3.Connection) -> int:
            return conn.execute(Q["log_purge"], params).rowcount

        # In batches, each its own transaction, so the writer is free in between.
        total = 0
        while True:
            deleted = await self._write(run)
            total += deleted
            if deleted < LOG_PURGE_BATCH:
                return total


def _json_or_none(values: list[str] | None) -> str | None:
    return json.dumps(values) if values is not None else None


_FIRST_PAGE = ("~", "")


def _trigger_params(s: TriggerRow) -> tuple[Any, ...]:
    backfill = msgspec.json.encode(s.backfill).decode() if s.backfill is not None else None
    return (
        s.namespace,
        s.flow_id,
        s.trigger_id,
        s.next_fire_at,
        s.execution_id,
        int(s.disabled),
        backfill,
        s.fingerprint,
        s.updated,
    )  # sorts after every ISO-8601 date


# -- functions run on the database thread --------------------------------------------------------
def _claim_lease(conn: sqlite3.Connection, lease: SchedulerLease) -> bool:
    row = conn.execute(
        Q["scheduler_lease_claim"], (lease.holder, time.time(), lease.seconds)
    ).fetchone()
    return row is not None


def _in_transaction(conn: sqlite3.Connection, fn: Callable[..., T], *args: Any) -> T:
    """BEGIN IMMEDIATE, run, COMMIT; ROLLBACK on any error so nothing half-written stays."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn, *args)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def _migrate(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied TEXT)"
    )
    done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
    for version, name, sql in migrations("sqlite"):
        if version in done:
            continue
        for statement in _statements(sql):
            conn.execute(statement)
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)",
            (version, name, now_iso()),
        )


def _statements(sql: str) -> list[str]:
    body = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def _get_flow(
    conn: sqlite3.Connection, namespace: str, flow_id: str, revision: int | None
) -> FlowRow | None:
    if revision is None:
        row = conn.execute(Q["flow_latest"], (namespace, flow_id)).fetchone()
    else:
        row = conn.execute(Q["flow_revision"], (namespace, flow_id, revision)).fetchone()
    return flow_row(row) if row else None


def _save_flow(
    conn: sqlite3.Connection,
    namespace: str,
    flow_id: str,
    source: str,
    digest: str,
    file: str | None,
) -> FlowRow:
    latest = _get_flow(conn, namespace, flow_id, None)
    if latest is not None and latest.hash == digest:
        if latest.disabled or latest.deleted or latest.file != file:
            conn.execute(
                "UPDATE flows SET disabled = 0, deleted = 0, file = ?, updated = ? "
                "WHERE namespace = ? AND id = ? AND revision = ?",
                (file, now_iso(), namespace, flow_id, latest.revision),
            )
            latest.disabled = latest.deleted = False
            latest.file = file
        return latest
    revision = latest.revision + 1 if latest else 1
    conn.execute(
        Q["flow_insert"], (namespace, flow_id, revision, source, digest, file, 0, now_iso())
    )
    return FlowRow(
        namespace=namespace, id=flow_id, revision=revision, source=source, hash=digest, file=file
    )


def _upsert_executions(conn: sqlite3.Connection, executions: list[Execution]) -> None:
    conn.executemany(Q["execution_upsert"], [execution_row(e) for e in executions])


def _delete_messages(conn: sqlite3.Connection, keys: list[str]) -> None:
    """Every queue message keyed by these executions (ended or purged): see queries.sql."""
    pairs = [(key,) for key in keys]
    conn.executemany(Q["queue_execution_delete_keys"], pairs)
    conn.executemany(Q["queue_worker_delete_keys"], pairs)


def _insert_messages(conn: sqlite3.Connection, query: str, messages: list[Outgoing]) -> None:
    if not messages:
        return
    now = time.time()
    conn.executemany(Q[query], [(m.key, m.payload, m.available_at or now) for m in messages])


def _insert_logs(conn: sqlite3.Connection, logs: list[NewLog]) -> list[LogEntry]:
    if not logs:
        return []
    start = conn.execute(Q["log_max_seq"]).fetchone()[0] + 1
    entries = [
        LogEntry(
            seq=start + i,
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
        for i, log in enumerate(logs)
    ]
    conn.executemany(
        Q["log_insert"],
        [
            (
                e.seq,
                e.execution_id,
                e.namespace,
                e.flow_id,
                e.task_id,
                e.task_run_id,
                e.attempt,
                e.level,
                e.timestamp,
                e.message,
            )
            for e in entries
        ],
    )
    return entries


def _executor_batch(
    conn: sqlite3.Connection, limit: int, handler: BatchHandler, local: LocalBatch
) -> ExecutorOutcome | None:
    rows = conn.execute(Q["queue_execution_poll"], (time.time(), limit)).fetchall()
    if not rows and local.empty():
        return None
    stored_local_logs = _insert_logs(conn, local.logs)
    conn.executemany(Q["queue_worker_delete"], [(seq,) for seq in local.done])
    _upsert_executions(conn, local.created)
    messages = [QueueMessage(seq=r[0], key=r[1], payload=r[2]) for r in rows]
    messages += [QueueMessage(seq=0, key=m.key, payload=m.payload) for m in local.results]
    messages += [QueueMessage(seq=0, key=e.id, payload=_WAKE) for e in local.created]
    if not messages:
        return ExecutorOutcome(stored_logs=stored_local_logs)
    keys = list(dict.fromkeys(m.key for m in messages))
    executions: dict[str, Execution] = {e.id: e for e in local.created}
    stored_keys = [key for key in keys if key not in executions]
    for chunk_start in range(0, len(stored_keys), 500):
        chunk = stored_keys[chunk_start : chunk_start + 500]
        marks = ",".join("?" * len(chunk))
        for (value,) in conn.execute(
            f"SELECT value FROM executions WHERE id IN ({marks})",
            chunk,
        ):
            execution = decode_execution(value)
            executions[execution.id] = execution
    missing = handler.missing_flows(executions.values())
    if missing:
        handler.add_flows([row for key in missing if (row := _get_flow(conn, *key)) is not None])
    outcome = handler.process(messages, executions, _SQLiteBatchView(conn))
    _upsert_executions(conn, outcome.new_executions)
    _upsert_executions(conn, outcome.executions)
    _delete_messages(conn, [e.id for e in outcome.ended])  # before this batch's own
    _insert_messages(conn, "queue_execution_insert", outcome.execution_messages)
    outcome.claimed_jobs = _insert_jobs(conn, outcome.worker_jobs, local)
    outcome.stored_logs = stored_local_logs + _insert_logs(conn, outcome.logs)
    _write_trigger_windows(conn, outcome.trigger_windows)
    conn.executemany(Q["trigger_release_lock"], outcome.released_triggers)
    conn.executemany(Q["queue_execution_delete"], [(r[0],) for r in rows])
    outcome.consumed = len(messages)
    return outcome


class _SQLiteBatchView:
    """BatchView over the batch's own connection: reads see the open transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def running_count(self, namespace: str, flow_id: str) -> int:
        return self._conn.execute(Q["execution_running_count"], (namespace, flow_id)).fetchone()[0]

    def queued_ids(self, namespace: str, flow_id: str, limit: int) -> list[str]:
        rows = self._conn.execute(Q["execution_queued_ids"], (namespace, flow_id, limit))
        return [r[0] for r in rows]

    def trigger_window(
        self, namespace: str, flow_id: str, trigger_id: str, condition_id: str
    ) -> TriggerWindow | None:
        row = self._conn.execute(
            Q["trigger_window_get"], (namespace, flow_id, trigger_id, condition_id)
        ).fetchone()
        if row is None:
            return None
        return TriggerWindow(
            namespace=row[0],
            flow_id=row[1],
            trigger_id=row[2],
            condition_id=row[3],
            start=row[4],
            end=row[5],
            results=_decode_results(row[6]),
            outputs=msgspec.json.decode(row[7]) if row[7] else None,
        )


_decode_results = msgspec.json.Decoder(dict[str, float]).decode


def _write_trigger_windows(
    conn: sqlite3.Connection, windows: dict[WindowKey, TriggerWindow | None]
) -> None:
    """Upsert or delete the Flow-trigger windows a batch touched; purge expired ones."""
    if not windows:
        return
    conn.executemany(Q["trigger_window_delete"], [k for k, w in windows.items() if w is None])
    conn.executemany(
        Q["trigger_window_upsert"],
        [
            (
                *w.key,
                w.start,
                w.end,
                msgspec.json.encode(w.results).decode(),
                msgspec.json.encode(w.outputs).decode() if w.outputs else None,
            )
            for w in windows.values()
            if w is not None
        ],
    )
    conn.execute(Q["trigger_window_delete_expired"], (time.time(),))


def _insert_jobs(
    conn: sqlite3.Connection, jobs: list[Outgoing], local: LocalBatch
) -> list[QueueMessage]:
    """Insert worker jobs; the first `claim_limit` already claimed by the local worker."""
    now = local.claimed_at or time.time()
    claimed: list[QueueMessage] = []
    take = min(local.claim_limit, len(jobs)) if local.claim_for else 0
    for job in jobs[:take]:
        cursor = conn.execute(
            Q["queue_worker_insert_claimed"], (job.key, job.payload, now, local.claim_for, now)
        )
        claimed.append(QueueMessage(seq=cursor.lastrowid or 0, key=job.key, payload=job.payload))
    _insert_messages(conn, "queue_worker_insert", jobs[take:])
    return claimed
