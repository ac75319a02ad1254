"""Rows in and out, the same for every dialect: the parameters a record is stored with
(executions, logs, triggers, windows, KV entries), which search query fits a filter, how
result rows become records, and whether a local process still lives."""

from __future__ import annotations

import os
from typing import Any

import msgspec

from kestrad.model.execution import Execution, encode_execution
from kestrad.model.records import KVEntry, LogEntry, NewLog
from kestrad.store.records import (
    Backfill,
    FlowChange,
    FlowRow,
    InstanceRow,
    TriggerRow,
    TriggerWindow,
)

_backfill_decoder = msgspec.json.Decoder(Backfill)
_encode_labels = msgspec.json.Encoder().encode
_decode_results = msgspec.json.Decoder(dict[str, float]).decode
# Log lines a purge deletes per transaction: a retention pass over millions of lines is
# many short transactions, never one that holds the writer (SQLite) or bloats (PostgreSQL).
LOG_PURGE_BATCH = 5_000


def execution_row(e: Execution) -> tuple[Any, ...]:
    """The indexed columns of `executions` (the document itself is the last one)."""
    trigger_execution = None
    if e.trigger is not None:
        trigger_execution = e.trigger.variables.get("executionId")
    return (
        e.id,
        e.namespace,
        e.flow_id,
        e.flow_revision,
        e.state.current,
        e.state.start_date,
        e.state.end_date,
        trigger_execution,
        encode_execution(e),
        _encode_labels({label.key: label.value for label in e.labels}).decode(),
    )


# The filters each `execution_search_<variant>` / `execution_count_<variant>` query takes,
# in its parameter order.
SEARCH_FILTERS: dict[str, tuple[str, ...]] = {
    "all": (),
    "namespace": ("namespace",),
    "flow": ("namespace", "flow_id"),
    "flow_id": ("flow_id", "state"),
    "state": ("state",),
    "namespace_state": ("namespace", "state"),
    "flow_state": ("namespace", "flow_id", "state"),
}


def search_variant(namespace: str | None, flow_id: str | None, state: str | None) -> str:
    """Which search query has an index for these filters (see the queries.sql files).

    Each filter combination has a query and an index of its own whose leading columns are
    exactly its filters, then (start_date, id): a page never tests rows it does not return.
    """
    if namespace is None:
        if flow_id is not None:
            return "flow_id"
        return "all" if state is None else "state"
    if flow_id is not None:
        return "flow" if state is None else "flow_state"
    return "namespace" if state is None else "namespace_state"


def instance_row(r: Any) -> InstanceRow:
    return InstanceRow(
        id=r[0], roles=r[1], host=r[2], pid=r[3], started=r[4], heartbeat=r[5], state=r[6]
    )


def pid_alive(pid: int) -> bool:
    """A process of this host still exists (instances on this host are checked directly)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def flow_row(r: Any) -> FlowRow:
    return FlowRow(
        namespace=r[0],
        id=r[1],
        revision=r[2],
        source=r[3],
        hash=r[4],
        file=r[5],
        disabled=bool(r[6]),
        deleted=bool(r[7]),
    )


def flow_change(r: Any) -> FlowChange:
    return FlowChange(
        namespace=r[0],
        id=r[1],
        revision=r[2],
        hash=r[3],
        file=r[4],
        disabled=bool(r[5]),
        deleted=bool(r[6]),
        updated=r[7],
    )


def log_entry(r: Any) -> LogEntry:
    return LogEntry(
        seq=r[0],
        execution_id=r[1],
        namespace=r[2],
        flow_id=r[3],
        task_id=r[4],
        task_run_id=r[5],
        attempt=r[6],
        level=r[7],
        timestamp=r[8],
        message=r[9],
    )


def kv_entry(r: Any) -> KVEntry:
    return KVEntry(
        namespace=r[0],
        key=r[1],
        value=r[2],
        type=r[3],
        description=r[4],
        expires_at=r[5],
        updated=r[6],
    )


def kv_params(e: KVEntry) -> tuple[Any, ...]:
    return (e.namespace, e.key, e.value, e.type, e.description, e.expires_at, e.updated)


def trigger_row(r: Any) -> TriggerRow:
    """A `triggers` row. Only the scheduler's full load reads the 10th column
    (`last_fire_at`): a row read for the CLI or API and written back must not carry one
    that its new `next_fire_at` no longer follows."""
    return TriggerRow(
        namespace=r[0],
        flow_id=r[1],
        trigger_id=r[2],
        next_fire_at=r[3],
        execution_id=r[4],
        disabled=bool(r[5]),
        backfill=_backfill_decoder.decode(r[6]) if r[6] else None,
        fingerprint=r[7],
        updated=r[8],
        last_fire_at=r[9] if len(r) > 9 else None,
    )


def search_filters(
    variant: str, namespace: str | None, flow_id: str | None, state: str | None
) -> tuple[str | None, ...]:
    """The filter parameters of one search/count variant, in its own order."""
    given = {"namespace": namespace, "flow_id": flow_id, "state": state}
    return tuple(given[name] for name in SEARCH_FILTERS[variant])


def trigger_params(s: TriggerRow) -> tuple[Any, ...]:
    """The columns of `trigger_upsert`, in order."""
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


def trigger_window(r: Any) -> TriggerWindow:
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


def window_params(w: TriggerWindow) -> tuple[Any, ...]:
    """The columns of `trigger_window_upsert`, in order."""
    outputs = msgspec.json.encode(w.outputs).decode() if w.outputs else None
    return (*w.key, w.start, w.end, msgspec.json.encode(w.results).decode(), outputs)


def log_params(log: NewLog) -> tuple[Any, ...]:
    """The columns of `log_insert`, in order (the seq is the database's)."""
    return (
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


def stored_log(seq: int, log: NewLog) -> LogEntry:
    """A line as stored: its columns are `seq`, then those of `log_params`."""
    return log_entry((seq, *log_params(log)))
