"""Task log lines: stored with a sequence id, read by it below the horizon."""

from __future__ import annotations

from kestrad.model.records import LogEntry, NewLog
from kestrad.store.rows import log_entry, log_params, stored_log
from kestrad.store.statements import All, Filtered, ManyKeys, Plan, Value, Where


def insert_logs(logs: list[NewLog]) -> Plan[list[LogEntry]]:
    """Insert log lines; their `seq` comes from the database, in the order given.

    Followers (SSE `Last-Event-ID`, `kestrad logs -f`) read `seq > cursor`, so a line must
    never become readable after a line with a larger seq was read, or a follower past it
    skips it forever. Seqs are not drawn in commit order on PostgreSQL (several daemons
    and connections insert at once, none waits for another), so readers read only below
    the horizon (`log_horizon`): no line with a smaller seq can still commit. Each insert
    holds a shared advisory lock until its commit that keeps the horizon below its seqs
    (sql/postgres/070_log_horizon.sql). Why not one cluster-wide lock that draws seqs in
    commit order, as before: a daemon frozen while holding it stopped every other
    daemon's completions. The insert SHOULD be the last statement of its transaction: the
    horizon waits for its commit. SQLite has one writer: its seqs are in commit order.
    """
    if not logs:
        return []
    seqs = yield ManyKeys("log_insert", [log_params(log) for log in logs])
    return [stored_log(seq, log) for seq, log in zip(seqs, logs, strict=True)]


EVERY = 2**63 - 1  # above every seq


def horizon() -> Plan[int]:
    """Every line with a smaller seq that will ever commit has committed (see above).
    Read in a statement of its own, before the lines: their read must see every commit
    that ended before the horizon was taken."""
    return int((yield Value("log_horizon")))


def list_logs(
    execution_id: str, after: int, limit: int, ended: bool = False
) -> Plan[list[LogEntry]]:
    """`ended`: the execution has ended, so each of its lines committed before its end
    state did (a worker commits its lines with its result): no horizon to wait for."""
    below = EVERY if ended else (yield from horizon())
    return [log_entry(r) for r in (yield All("log_list", (execution_id, after, limit, below)))]


def search_logs(
    after: int,
    execution_id: str | None,
    namespace: str | None,
    flow_id: str | None,
    levels: list[str] | None,
    limit: int,
    ended: bool = False,
) -> Plan[list[LogEntry]]:
    """`ended`: as for list_logs, with `execution_id` given."""
    below = EVERY if ended and execution_id else (yield from horizon())
    params = (after, execution_id, namespace, flow_id, levels, limit, below)
    return [log_entry(r) for r in (yield All("log_search_after", params))]


def latest_logs(
    execution_id: str | None,
    namespace: str | None,
    flow_id: str | None,
    levels: list[str] | None,
    limit: int,
) -> Plan[list[LogEntry]]:
    """The last `limit` matching lines below the horizon, oldest first."""
    below = yield from horizon()
    params = (execution_id, namespace, flow_id, levels, limit, below)
    rows = yield All("log_search_latest", params)
    return [log_entry(r) for r in reversed(rows)]


def find_logs(where: Where, limit: int, offset: int) -> Plan[list[LogEntry]]:
    """Log lines matching Kestra's query filters, newest first."""
    rows = yield Filtered(All("log_find", (limit, offset)), where)
    return [log_entry(r) for r in rows]


def count_found_logs(where: Where) -> Plan[int]:
    return int((yield Filtered(Value("log_find_count"), where)))
