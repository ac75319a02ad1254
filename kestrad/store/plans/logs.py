"""Task log lines: stored with a sequence id in commit order, read by it."""

from __future__ import annotations

from kestrad.model.records import LogEntry, NewLog
from kestrad.store.rows import log_entry, log_params, stored_log
from kestrad.store.statements import All, Filtered, ManyKeys, Plan, Value, Where


def insert_logs(logs: list[NewLog]) -> Plan[list[LogEntry]]:
    """Insert log lines; their `seq` comes from the database, in the order given.

    MUST be the last statement of its transaction. Followers (SSE `Last-Event-ID`,
    `kestrad logs -f`) read `seq > cursor`, so a line must never commit after a line with
    a larger seq became visible, or a follower past it skips it forever. SQLite has one
    writer, so seqs are in commit order anyway. PostgreSQL's insert first takes one
    transaction-level advisory lock (in the same statement, before any seq is drawn) and
    holds it until the commit: seqs are drawn in commit order. Taken last, the lock is
    held only for the insert and the commit, and its holder never waits for another lock,
    so it cannot deadlock. Why not a "safe horizon" in the readers instead (return only
    seqs below the oldest transaction in flight, by pg_snapshot_xmin): one long write
    transaction anywhere on the server would stall every follower, and this daemon's own
    followers, fed by the hub in commit order, would still jump ahead of another
    connection's smaller seq committed later.
    """
    if not logs:
        return []
    seqs = yield ManyKeys("log_insert", [log_params(log) for log in logs])
    return [stored_log(seq, log) for seq, log in zip(seqs, logs, strict=True)]


def list_logs(execution_id: str, after: int, limit: int) -> Plan[list[LogEntry]]:
    return [log_entry(r) for r in (yield All("log_list", (execution_id, after, limit)))]


def search_logs(
    after: int,
    execution_id: str | None,
    namespace: str | None,
    flow_id: str | None,
    levels: list[str] | None,
    limit: int,
) -> Plan[list[LogEntry]]:
    params = (after, execution_id, namespace, flow_id, levels, limit)
    return [log_entry(r) for r in (yield All("log_search_after", params))]


def latest_logs(
    execution_id: str | None,
    namespace: str | None,
    flow_id: str | None,
    levels: list[str] | None,
    limit: int,
) -> Plan[list[LogEntry]]:
    """The last `limit` matching lines, oldest first."""
    rows = yield All("log_search_latest", (execution_id, namespace, flow_id, levels, limit))
    return [log_entry(r) for r in reversed(rows)]


def find_logs(where: Where, limit: int, offset: int) -> Plan[list[LogEntry]]:
    """Log lines matching Kestra's query filters, newest first."""
    rows = yield Filtered(All("log_find", (limit, offset)), where)
    return [log_entry(r) for r in rows]


def count_found_logs(where: Where) -> Plan[int]:
    return int((yield Filtered(Value("log_find_count"), where)))
