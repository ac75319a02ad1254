"""The scheduler's trigger states and its lease."""

from __future__ import annotations

from kestrad.model.execution import Execution
from kestrad.model.records import NewLog
from kestrad.store.plans.executions import upsert_executions
from kestrad.store.plans.logs import insert_logs
from kestrad.store.plans.queue import wake
from kestrad.store.records import (
    LeaseLost,
    SchedulerLease,
    TriggerKey,
    TriggerRow,
    TriggerWindow,
    WindowKey,
)
from kestrad.store.rows import trigger_params, trigger_row, trigger_window
from kestrad.store.statements import All, Execute, Many, ManyReturning, One, Plan, Value


def load_triggers() -> Plan[list[TriggerRow]]:
    return [trigger_row(r) for r in (yield All("trigger_load_all"))]


def save_trigger_states(
    states: list[TriggerRow],
    executions: list[Execution],
    deleted: list[TriggerKey],
    logs: list[NewLog],
    lease: SchedulerLease | None,
) -> Plan[None]:
    """See TriggerStore.save_trigger_states: the lease first, the logs last."""
    if lease is not None and not (yield from claim_scheduler_lease(lease)):
        raise LeaseLost(lease.holder)
    yield from upsert_executions(executions)
    yield from wake([e.id for e in executions if not e.terminated])
    yield Many("trigger_delete", deleted)
    # One row per trigger (the last state given wins), as one upsert may not touch a row twice.
    latest = {s.key: s for s in states}
    yield Many("trigger_upsert", [trigger_params(s) for s in latest.values()])
    yield from insert_logs(logs)  # last: see insert_logs


def claim_scheduler_lease(lease: SchedulerLease) -> Plan[bool]:
    """On the database's clock, so daemons with drifting clocks agree."""
    return (yield Value("scheduler_lease_claim", (lease.holder, lease.seconds))) is not None


def release_scheduler_lease(holder: str) -> Plan[None]:
    yield Execute("scheduler_lease_release", (holder,))


def scheduler_lease_holder() -> Plan[tuple[str, float] | None]:
    row = yield One("scheduler_lease_get")
    return (row[0], float(row[1])) if row else None


def get_trigger(namespace: str, flow_id: str, trigger_id: str) -> Plan[TriggerRow | None]:
    row = yield One("trigger_get", (namespace, flow_id, trigger_id))
    return trigger_row(row) if row else None


def list_triggers(namespace: str | None, flow_id: str | None, limit: int) -> Plan[list[TriggerRow]]:
    rows = yield All("trigger_list", (namespace, flow_id, limit))
    return [trigger_row(r) for r in rows]


def triggers_updated_since(since: float) -> Plan[list[TriggerRow]]:
    return [trigger_row(r) for r in (yield All("trigger_updated_since", (since,)))]


def trigger_windows(keys: list[WindowKey]) -> Plan[list[TriggerWindow]]:
    """The stored windows among `keys` (Flow-trigger preconditions), by primary key."""
    rows = yield ManyReturning("trigger_window_get_many", sorted(keys))
    return [trigger_window(row) for row in rows]
