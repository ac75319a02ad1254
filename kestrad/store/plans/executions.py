"""Execution documents: created, read, listed and counted."""

from __future__ import annotations

from kestrad.model.execution import Execution, decode_execution
from kestrad.store.plans.queue import wake
from kestrad.store.records import ExecutionBrief
from kestrad.store.rows import execution_row, search_filters, search_variant
from kestrad.store.statements import All, Filtered, Many, One, Plan, Value, Where

FIRST_PAGE = ("~", "")  # sorts after every ISO-8601 date


def upsert_executions(executions: list[Execution]) -> Plan[None]:
    yield Many("execution_upsert", [execution_row(e) for e in executions])


def create_executions(executions: list[Execution]) -> Plan[None]:
    """Store new executions, each with its first Wake message."""
    yield from upsert_executions(executions)
    yield from wake([e.id for e in executions])


def get_execution(execution_id: str) -> Plan[Execution | None]:
    row = yield One("execution_get", (execution_id,))
    return decode_execution(row[0]) if row else None


def executions_triggered_by(execution_id: str) -> Plan[list[Execution]]:
    rows = yield All("execution_by_trigger", (execution_id,))
    return [decode_execution(r[0]) for r in rows]


def search_executions(
    namespace: str | None,
    flow_id: str | None,
    state: str | None,
    after: tuple[str, str] | None,
    limit: int,
    offset: int,
) -> Plan[list[Execution]]:
    """Newest first; `after` is the (start date, id) of the last row of the previous page."""
    variant = search_variant(namespace, flow_id, state)
    params = (*search_filters(variant, namespace, flow_id, state), *(after or FIRST_PAGE))
    rows = yield All("execution_search_" + variant, (*params, limit, offset))
    return [decode_execution(r[0]) for r in rows]


def count_executions(namespace: str | None, flow_id: str | None, state: str | None) -> Plan[int]:
    variant = search_variant(namespace, flow_id, state)
    filters = search_filters(variant, namespace, flow_id, state)
    return int((yield Value("execution_count_" + variant, filters)))


def find_executions(
    where: Where, after: tuple[str, str] | None, limit: int, offset: int
) -> Plan[list[Execution]]:
    """The executions matching Kestra's query filters, newest first (as `search_executions`)."""
    rows = yield Filtered(All("execution_find", (*(after or FIRST_PAGE), limit, offset)), where)
    return [decode_execution(r[0]) for r in rows]


def count_found_executions(where: Where) -> Plan[int]:
    return int((yield Filtered(Value("execution_find_count"), where)))


def found_execution_ids(where: Where, limit: int) -> Plan[list[str]]:
    """The ids a bulk action by query acts on, newest first, at most `limit`."""
    return [r[0] for r in (yield Filtered(All("execution_find_ids", (limit,)), where))]


def active_executions() -> Plan[list[tuple[str, str]]]:
    return [(r[0], r[1]) for r in (yield All("execution_active"))]


def execution_briefs(execution_ids: list[str]) -> Plan[list[ExecutionBrief]]:
    if not execution_ids:
        return []
    rows = yield All("execution_states_of", (execution_ids,))
    return [ExecutionBrief(id=r[0], state=r[1], start_date=r[2]) for r in rows]
