"""The maintenance tasks' bulk reads and deletes (execution.Count, PurgeExecutions,
PurgeLogs, retention)."""

from __future__ import annotations

from kestrad.model.records import FlowCount
from kestrad.store.plans.queue import delete_messages_of
from kestrad.store.records import ExecutionRef
from kestrad.store.rows import LOG_PURGE_BATCH
from kestrad.store.statements import All, Execute, Plan


def count_executions_by_flow(
    start: str | None,
    end: str | None,
    states: list[str] | None,
    namespaces: list[str] | None,
    flows: list[tuple[str, str]] | None,
) -> Plan[list[FlowCount]]:
    """Counts per flow, by the one query whose index fits the filters given.

    `None` is "any"; an empty `states` or `namespaces` matches nothing, an empty `flows`
    is no filter. Flows and namespaces together count the named flows of those namespaces.
    """
    lists: tuple[list[str], ...] = ()
    if flows:
        pairs = sorted(set(flows))
        if namespaces is not None:
            pairs = [p for p in pairs if p[0] in namespaces]
        lists, variant = ([p[0] for p in pairs], [p[1] for p in pairs]), "flows"
    elif namespaces is not None:
        lists, variant = (namespaces,), "namespaces"
    else:
        variant = "all"
    if states is not None:
        lists, variant = (*lists, states), ("states" if variant == "all" else variant + "_states")
    rows = yield All("execution_flow_counts_" + variant, (start, end, *lists))
    return [FlowCount(namespace=r[0], flow_id=r[1], count=r[2]) for r in rows]


def ended_executions(
    states: list[str],
    end: str,
    start: str | None,
    namespace: str | None,
    flow_id: str | None,
    after: str,
    limit: int,
) -> Plan[list[ExecutionRef]]:
    params = (states, end, start, namespace, flow_id, after, limit)
    rows = yield All("execution_ended_page", params)
    return [ExecutionRef(id=r[0], namespace=r[1], flow_id=r[2]) for r in rows]


def delete_executions(ids: list[str], executions: bool, logs: bool) -> Plan[tuple[int, int]]:
    """(executions, log lines) deleted; an execution's queue messages go with it."""
    deleted = deleted_logs = 0
    if not ids:
        return deleted, deleted_logs
    if logs:
        deleted_logs = yield Execute("log_delete_executions", (ids,))
    if executions:
        deleted = yield Execute("execution_delete", (ids,))
        yield from delete_messages_of(ids)
    return deleted, deleted_logs


def purge_logs_batch(
    end: str,
    start: str | None,
    namespace: str | None,
    flow_id: str | None,
    execution_id: str | None,
    levels: list[str] | None,
) -> Plan[int]:
    """One batch of at most LOG_PURGE_BATCH lines (the caller repeats it)."""
    params = (end, start, namespace, flow_id, execution_id, levels, LOG_PURGE_BATCH)
    return (yield Execute("log_purge", params))
