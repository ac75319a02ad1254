"""The Store protocol, once, over any SQL dialect's connector.

Each method runs one plan of `store/plans/` (its domain logic, written once) through the
connector: writes in one transaction, reads on a read connection. Nothing here knows the
dialect; `SQLiteStore` and `PostgresStore` are this class over their connector.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from kestrad.flows.problems import Problem
from kestrad.model.execution import Execution
from kestrad.model.query import Query, Resource
from kestrad.model.records import FlowCount, KVEntry, LogEntry, NewLog
from kestrad.store.filters import compile_query
from kestrad.store.outage import Retry
from kestrad.store.plans import batch, charts, kv, maintenance, queue
from kestrad.store.plans import executions as execution_plans
from kestrad.store.plans import file_problems as file_problem_plans
from kestrad.store.plans import flows as flow_plans
from kestrad.store.plans import instances as instance_plans
from kestrad.store.plans import logs as log_plans
from kestrad.store.plans import triggers as trigger_plans
from kestrad.store.plans.migrate import migrate
from kestrad.store.queries import migrations
from kestrad.store.records import (
    ExecutionBrief,
    ExecutionRef,
    ExecutorOutcome,
    FlowChange,
    FlowRow,
    InFlightJob,
    InstanceRow,
    LocalBatch,
    Outgoing,
    QueueMessage,
    QueueStats,
    Released,
    SchedulerLease,
    TriggerKey,
    TriggerRow,
    TriggerWindow,
    WindowKey,
)
from kestrad.store.roles import BatchHandler
from kestrad.store.rows import LOG_PURGE_BATCH
from kestrad.store.statements import Connector, One, Plan


class SQLStore:
    """Every role of the Store protocol (store/roles.py) on one database."""

    def __init__(self, connector: Connector, *, liveness_timeout: float = 45.0) -> None:
        self.connector = connector
        self.liveness_timeout = liveness_timeout

    # -- lifecycle ----------------------------------------------------------------------------
    async def migrate(self) -> None:
        await self.connector.open()
        await self.connector.write(migrate(migrations(self.connector.dialect)))

    async def close(self) -> None:
        await self.connector.close()

    async def ping(self) -> None:
        await self.connector.read(_one("ping"))

    async def ping_write(self, instance_id: str) -> None:
        """See Lifecycle.ping_write."""
        check_disk = getattr(self.connector, "check_disk", None)
        if check_disk is not None:
            check_disk()
        await self.connector.write(instance_plans.heartbeat(instance_id), transaction=False)

    async def listen(self, wakes: dict[str, asyncio.Event]) -> None:
        """See Lifecycle.listen; outages are reported on this store's record."""
        await self.connector.listen(wakes, Retry(self, "listening for queue notifications"))

    # -- queue --------------------------------------------------------------------------------
    async def executor_batch(
        self, limit: int, handler: BatchHandler, local: LocalBatch | None = None
    ) -> ExecutorOutcome | None:
        plan = batch.executor_batch(limit, handler, local or LocalBatch())
        return await self.connector.write(plan)

    async def next_event_due(self) -> float | None:
        return await self.connector.read(queue.next_event_due())

    async def publish_events(self, messages: list[Outgoing]) -> None:
        await self.connector.write(queue.publish_events(messages))

    async def claim_worker_jobs(
        self, instance_id: str, limit: int, *, at: float | None = None
    ) -> list[QueueMessage]:
        plan = queue.claim_worker_jobs(instance_id, limit, at)
        return await self.connector.write(plan, transaction=False)

    async def release_worker_claims(self, instance_id: str, stamps: list[float]) -> int:
        if not stamps:
            return 0
        return await self.connector.write(queue.release_worker_claims(instance_id, stamps))

    async def complete_worker_jobs(
        self, results: list[Outgoing], done: list[int], logs: list[NewLog]
    ) -> list[LogEntry]:
        return await self.connector.write(queue.complete_worker_jobs(results, done, logs))

    async def count_worker_claims(self, instance_id: str) -> int:
        return await self.connector.read(queue.count_worker_claims(instance_id))

    async def queue_stats(self, now: float) -> list[QueueStats]:
        return await self.connector.read(queue.queue_stats(now))

    # -- executions ---------------------------------------------------------------------------
    async def create_executions(self, executions: list[Execution]) -> None:
        await self.connector.write(execution_plans.create_executions(executions))

    async def get_execution(self, execution_id: str) -> Execution | None:
        return await self.connector.read(execution_plans.get_execution(execution_id))

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
        return await self.connector.read(execution_plans.executions_triggered_by(execution_id))

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
        plan = execution_plans.search_executions(namespace, flow_id, state, after, limit, offset)
        return await self.connector.read(plan)

    async def count_executions(
        self,
        *,
        namespace: str | None = None,
        flow_id: str | None = None,
        state: str | None = None,
    ) -> int:
        return await self.connector.read(
            execution_plans.count_executions(namespace, flow_id, state)
        )

    async def count_executions_by_state(
        self,
        states: list[str],
        *,
        start: str | None = None,
        end: str | None = None,
        namespace: str | None = None,
        flow_id: str | None = None,
        below: bool = False,
    ) -> dict[str, int]:
        plan = charts.count_by_state(states, start, end, namespace, flow_id, below)
        return await self.connector.read(plan)

    async def latest_executions_of_flows(
        self, flows: list[tuple[str, str]]
    ) -> dict[tuple[str, str], ExecutionBrief]:
        return await self.connector.read(charts.latest_of_flows(flows))

    async def active_executions(self) -> list[tuple[str, str]]:
        return await self.connector.read(execution_plans.active_executions())

    async def find_logs(
        self, query: Query, *, now: float, limit: int = 100, offset: int = 0
    ) -> list[LogEntry]:
        where = compile_query(query, Resource.LOG, now)
        return await self.connector.read(log_plans.find_logs(where, limit, offset))

    async def count_found_logs(self, query: Query, *, now: float) -> int:
        where = compile_query(query, Resource.LOG, now)
        return await self.connector.read(log_plans.count_found_logs(where))

    async def save_executions(self, executions: list[Execution]) -> None:
        await self.connector.write(execution_plans.upsert_executions(executions))

    async def find_executions(
        self,
        query: Query,
        *,
        now: float,
        after: tuple[str, str] | None = None,
        limit: int = 25,
        offset: int = 0,
    ) -> list[Execution]:
        where = compile_query(query, Resource.EXECUTION, now)
        return await self.connector.read(
            execution_plans.find_executions(where, after, limit, offset)
        )

    async def count_found_executions(self, query: Query, *, now: float) -> int:
        where = compile_query(query, Resource.EXECUTION, now)
        return await self.connector.read(execution_plans.count_found_executions(where))

    async def found_execution_ids(self, query: Query, *, now: float, limit: int) -> list[str]:
        where = compile_query(query, Resource.EXECUTION, now)
        return await self.connector.read(execution_plans.found_execution_ids(where, limit))

    async def execution_briefs(self, execution_ids: list[str]) -> list[ExecutionBrief]:
        return await self.connector.read(execution_plans.execution_briefs(execution_ids))

    # -- flows --------------------------------------------------------------------------------
    async def save_flow(
        self, namespace: str, flow_id: str, source: str, digest: str, file: str | None
    ) -> FlowRow:
        return await self.connector.write(
            flow_plans.save_flow(namespace, flow_id, source, digest, file)
        )

    async def set_flow_flags(self, row: FlowRow, *, disabled: bool, deleted: bool) -> None:
        plan = flow_plans.set_flow_flags(row, disabled=disabled, deleted=deleted)
        await self.connector.write(plan, transaction=False)

    async def get_flow(
        self, namespace: str, flow_id: str, revision: int | None = None
    ) -> FlowRow | None:
        return await self.connector.read(flow_plans.get_flow(namespace, flow_id, revision))

    async def list_flows(self) -> list[FlowRow]:
        return await self.connector.read(flow_plans.list_flows())

    async def flow_changes_since(self, since: str) -> list[FlowChange]:
        return await self.connector.read(flow_plans.flow_changes_since(since))

    async def replace_file_problems(
        self, root: str, problems: Mapping[str, Sequence[Problem]]
    ) -> None:
        await self.connector.write(file_problem_plans.replace_file_problems(root, problems))

    async def file_problems(self) -> dict[str, list[Problem]]:
        return await self.connector.read(file_problem_plans.file_problems())

    # -- triggers -----------------------------------------------------------------------------
    async def load_triggers(self) -> list[TriggerRow]:
        return await self.connector.read(trigger_plans.load_triggers())

    async def save_trigger_states(
        self,
        states: list[TriggerRow],
        executions: list[Execution],
        *,
        deleted: list[TriggerKey] | None = None,
        logs: list[NewLog] | None = None,
        lease: SchedulerLease | None = None,
    ) -> None:
        plan = trigger_plans.save_trigger_states(
            states, executions, deleted or [], logs or [], lease
        )
        await self.connector.write(plan)

    async def get_trigger(self, namespace: str, flow_id: str, trigger_id: str) -> TriggerRow | None:
        return await self.connector.read(trigger_plans.get_trigger(namespace, flow_id, trigger_id))

    async def list_triggers(
        self, *, namespace: str | None = None, flow_id: str | None = None, limit: int = 1000
    ) -> list[TriggerRow]:
        return await self.connector.read(trigger_plans.list_triggers(namespace, flow_id, limit))

    async def trigger_windows(self, keys: list[WindowKey]) -> list[TriggerWindow]:
        if not keys:
            return []
        return await self.connector.read(trigger_plans.trigger_windows(keys))

    async def triggers_updated_since(self, since: float) -> list[TriggerRow]:
        return await self.connector.read(trigger_plans.triggers_updated_since(since))

    async def claim_scheduler_lease(self, lease: SchedulerLease) -> bool:
        plan = trigger_plans.claim_scheduler_lease(lease)
        return await self.connector.write(plan, transaction=False)

    async def release_scheduler_lease(self, holder: str) -> None:
        plan = trigger_plans.release_scheduler_lease(holder)
        await self.connector.write(plan, transaction=False)

    async def scheduler_lease_holder(self) -> tuple[str, float] | None:
        return await self.connector.read(trigger_plans.scheduler_lease_holder())

    # -- logs ---------------------------------------------------------------------------------
    async def append_logs(self, logs: list[NewLog]) -> list[LogEntry]:
        return await self.connector.write(log_plans.insert_logs(logs))

    async def list_logs(
        self, execution_id: str, after: int = 0, limit: int = 10_000, *, ended: bool = False
    ) -> list[LogEntry]:
        return await self.connector.read(log_plans.list_logs(execution_id, after, limit, ended))

    async def search_logs(
        self,
        *,
        after: int = 0,
        execution_id: str | None = None,
        namespace: str | None = None,
        flow_id: str | None = None,
        levels: list[str] | None = None,
        limit: int = 1000,
        ended: bool = False,
    ) -> list[LogEntry]:
        plan = log_plans.search_logs(after, execution_id, namespace, flow_id, levels, limit, ended)
        return await self.connector.read(plan)

    async def latest_logs(
        self,
        *,
        execution_id: str | None = None,
        namespace: str | None = None,
        flow_id: str | None = None,
        levels: list[str] | None = None,
        limit: int = 100,
    ) -> list[LogEntry]:
        plan = log_plans.latest_logs(execution_id, namespace, flow_id, levels, limit)
        return await self.connector.read(plan)

    # -- service instances --------------------------------------------------------------------
    async def register_instance(self, instance_id: str, roles: str) -> list[InFlightJob]:
        plan = instance_plans.register_instance(instance_id, roles, self.liveness_timeout)
        return await self.connector.write(plan)

    async def heartbeat(self, instance_id: str) -> bool:
        plan = instance_plans.heartbeat(instance_id)
        return await self.connector.write(plan, transaction=False, fenced=False)

    async def stop_instance(self, instance_id: str) -> None:
        await self.connector.write(instance_plans.stop_instance(instance_id))

    async def disconnect_silent_instances(
        self, instance_id: str, silent_since: float, purge_before: float
    ) -> Released:
        plan = instance_plans.disconnect_silent_instances(instance_id, silent_since, purge_before)
        return await self.connector.write(plan)

    async def list_instances(self) -> list[InstanceRow]:
        return await self.connector.read(instance_plans.list_instances())

    # -- KV -----------------------------------------------------------------------------------
    async def kv_get(self, namespace: str, key: str) -> KVEntry | None:
        return await self.connector.read(kv.kv_get(namespace, key))

    async def kv_set(self, entry: KVEntry, *, overwrite: bool = True) -> bool:
        return await self.connector.write(kv.kv_set(entry, overwrite), transaction=False)

    async def kv_delete(self, namespace: str, key: str) -> bool:
        return await self.connector.write(kv.kv_delete(namespace, key), transaction=False)

    async def kv_list(self, namespace: str | None = None) -> list[KVEntry]:
        return await self.connector.read(kv.kv_list(namespace))

    async def kv_stamp(self) -> tuple[int, float]:
        return await self.connector.read(kv.kv_stamp())

    # -- maintenance --------------------------------------------------------------------------
    async def count_executions_by_flow(
        self,
        *,
        start: str | None,
        end: str | None,
        states: list[str] | None = None,
        namespaces: list[str] | None = None,
        flows: list[tuple[str, str]] | None = None,
    ) -> list[FlowCount]:
        plan = maintenance.count_executions_by_flow(start, end, states, namespaces, flows)
        return await self.connector.read(plan)

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
        plan = maintenance.ended_executions(states, end, start, namespace, flow_id, after, limit)
        return await self.connector.read(plan)

    async def delete_executions(
        self, ids: list[str], *, executions: bool = True, logs: bool = True
    ) -> tuple[int, int]:
        return await self.connector.write(maintenance.delete_executions(ids, executions, logs))

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
        """In batches of LOG_PURGE_BATCH lines, each its own transaction, so the writer
        (SQLite) is free in between and no transaction grows long (PostgreSQL)."""
        total = 0
        while True:
            plan = maintenance.purge_logs_batch(
                end, start, namespace, flow_id, execution_id, levels
            )
            deleted = await self.connector.write(plan, transaction=False)
            total += deleted
            if deleted < LOG_PURGE_BATCH:
                return total


def _one(name: str) -> Plan[object]:
    """A plan of one statement without parameters, answering its row."""
    return (yield One(name))
