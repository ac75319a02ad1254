"""The store's protocols, one per role, so each consumer can ask for the narrowest door.

`Store` is all of them together: what `open_store` returns and what existing annotations
name. A consumer that only reads logs may take a `LogStore`, the monitor an
`InstanceStore`, and so on; a test double then implements one role, not fifty methods.
Every method is one transaction (or one read): batch-shaped on purpose, so the executor's
whole poll batch (claim, load, advance, save, publish, delete) commits once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from kestrad.flows.problems import Problem
from kestrad.model.execution import Execution
from kestrad.model.query import Query
from kestrad.model.records import FlowCount, KVEntry, LogEntry, NewLog
from kestrad.store.records import (
    BatchLocks,
    ExecutionBrief,
    ExecutionRef,
    ExecutorOutcome,
    FlowChange,
    FlowKey,
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


class BatchView(Protocol):
    """Reads the executor may make inside its batch transaction (flow concurrency,
    Flow-trigger windows), for the flows and windows its BatchLocks declared."""

    def running_count(self, namespace: str, flow_id: str) -> int: ...

    def queued_ids(self, namespace: str, flow_id: str, limit: int) -> list[str]: ...

    def trigger_window(
        self, namespace: str, flow_id: str, trigger_id: str, condition_id: str
    ) -> TriggerWindow | None:
        """The stored window of one Flow-trigger multiple condition (preconditions)."""
        ...


class BatchHandler(Protocol):
    """The executor's side of a batch: pure processing, called inside the transaction."""

    def missing_flows(self, executions: Iterable[Execution]) -> set[FlowKey]: ...

    def add_flows(self, rows: list[FlowRow]) -> None: ...

    def batch_locks(self, executions: Iterable[Execution]) -> BatchLocks:
        """What `process` may ask the BatchView about these executions (called after
        `add_flows`). A handler that never reads through the view may leave it out."""
        ...

    def process(
        self, messages: list[QueueMessage], executions: dict[str, Execution], view: BatchView
    ) -> ExecutorOutcome: ...


class Lifecycle(Protocol):
    """Opening, closing and watching the database itself."""

    async def migrate(self) -> None:
        """Open the store (again after a failed attempt) and apply pending migrations."""
        ...

    async def close(self) -> None: ...

    async def ping(self) -> None: ...

    async def ping_write(self, instance_id: str) -> None:
        """Prove the store can write: a committed write (this instance's heartbeat), and
        the connector's own checks (SQLite: the file is still the one opened, its disk is
        not full). Raises what a real write would: an outage error when it cannot."""
        ...

    async def listen(self, wakes: dict[str, asyncio.Event]) -> None:
        """Set `wakes[channel]` on every notice of that channel from other processes, until
        cancelled; returns at once where the database has no notices (SQLite)."""
        ...


class QueueStore(Protocol):
    """The execution and worker topics: the executor's batch and the worker's jobs."""

    async def executor_batch(
        self, limit: int, handler: BatchHandler, local: LocalBatch | None = None
    ) -> ExecutorOutcome | None: ...

    async def next_event_due(self) -> float | None: ...

    async def publish_events(self, messages: list[Outgoing]) -> None: ...

    async def claim_worker_jobs(
        self, instance_id: str, limit: int, *, at: float | None = None
    ) -> list[QueueMessage]:
        """Claim up to `limit` due jobs for `instance_id`, stamped `claimed_at = at` (now
        by default): the stamp identifies this one attempt, see release_worker_claims."""
        ...

    async def release_worker_claims(self, instance_id: str, stamps: list[float]) -> int:
        """Hand back the jobs claimed by `instance_id` in the attempts stamped `stamps`.

        Why: a claim (or an executor batch inserting claimed jobs) whose connection broke
        may have committed without its answer arriving; those jobs are claimed by a live
        instance that never got them, so liveness would never hand them out again.
        """
        ...

    async def complete_worker_jobs(
        self, results: list[Outgoing], done: list[int], logs: list[NewLog]
    ) -> list[LogEntry]: ...

    async def count_worker_claims(self, instance_id: str) -> int:
        """Worker jobs claimed by this instance whose results are not stored yet."""
        ...

    async def queue_stats(self, now: float) -> list[QueueStats]: ...


class ExecutionStore(Protocol):
    """Execution documents: created, read, listed (the executor writes them in its batch)."""

    async def create_executions(self, executions: list[Execution]) -> None: ...

    async def get_execution(self, execution_id: str) -> Execution | None: ...

    async def list_executions(
        self,
        *,
        namespace: str | None = None,
        flow_id: str | None = None,
        state: str | None = None,
        limit: int = 100,
    ) -> list[Execution]:
        """The newest `limit` executions: the first page of `search_executions`."""
        ...

    async def executions_triggered_by(self, execution_id: str) -> list[Execution]: ...

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
        """One page of the executions list, newest first: (start date, id) descending.

        `after` is the (start date, id) of the last row of the previous page (keyset: an
        index range scan, as fast on page 10 000 as on page 1). `offset` skips rows after
        that, only for Kestra's numbered pages: its cost grows with the offset.
        """
        ...

    async def count_executions(
        self,
        *,
        namespace: str | None = None,
        flow_id: str | None = None,
        state: str | None = None,
    ) -> int: ...

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
        """{state: executions started in [start, end]}, for charts; `below` also counts
        the namespaces under `namespace`."""
        ...

    async def latest_executions_of_flows(
        self, flows: list[tuple[str, str]]
    ) -> dict[tuple[str, str], ExecutionBrief]:
        """{(namespace, flow id): its newest execution}, in one statement; flows never
        run are absent."""
        ...

    async def active_executions(self) -> list[tuple[str, str]]:
        """(id, state) of every execution not in a terminal state."""
        ...

    async def save_executions(self, executions: list[Execution]) -> None:
        """Write documents the executor no longer touches (an ended execution's labels or
        status), without waking anything."""
        ...

    async def find_executions(
        self,
        query: Query,
        *,
        now: float,
        after: tuple[str, str] | None = None,
        limit: int = 25,
        offset: int = 0,
    ) -> list[Execution]:
        """One page of the executions matching Kestra's query filters, newest first.

        `now` anchors a `timeRange` filter; a filter the store cannot answer raises
        `store.filters.UnsupportedFilter`.
        """
        ...

    async def count_found_executions(self, query: Query, *, now: float) -> int: ...

    async def found_execution_ids(self, query: Query, *, now: float, limit: int) -> list[str]:
        """The ids of the executions matching `query`, newest first (bulk actions)."""
        ...

    async def execution_briefs(self, execution_ids: list[str]) -> list[ExecutionBrief]:
        """State and creation date of each given execution that exists, in one query."""
        ...


class FlowStore(Protocol):
    """Flow revisions, as the flows folder writes them."""

    async def save_flow(
        self, namespace: str, flow_id: str, source: str, digest: str, file: str | None
    ) -> FlowRow: ...

    async def set_flow_flags(self, row: FlowRow, *, disabled: bool, deleted: bool) -> None: ...

    async def get_flow(
        self, namespace: str, flow_id: str, revision: int | None = None
    ) -> FlowRow | None: ...

    async def list_flows(self) -> list[FlowRow]: ...

    async def flow_changes_since(self, since: str) -> list[FlowChange]:
        """The revisions written (saved, restored, flagged) at or after `since` (ISO-8601
        UTC text, as `updated` is stamped), without their sources, oldest stamp first: how
        a process learns of the flow changes other processes made."""
        ...

    async def replace_file_problems(
        self, root: str, problems: Mapping[str, Sequence[Problem]]
    ) -> None:
        """Make `problems` (file path → its load problems) the whole stored set of the
        flows folder `root`, in one transaction: files absent from it have none now.

        Why stored: only the process that syncs a folder reads its files, and any process
        of the store may answer the UI or the API (runtime/file_problems.py)."""
        ...

    async def file_problems(self) -> dict[str, list[Problem]]:
        """The load problems of every flows-folder file that does not load now, by path,
        of every folder synced on this store."""
        ...


class TriggerStore(Protocol):
    """The scheduler's trigger states and its lease."""

    async def trigger_windows(self, keys: list[WindowKey]) -> list[TriggerWindow]:
        """The stored Flow-trigger windows among `keys` (absent ones are left out)."""
        ...

    async def load_triggers(self) -> list[TriggerRow]:
        """Every trigger row, in one query (the scheduler's index is built from it)."""
        ...

    async def save_trigger_states(
        self,
        states: list[TriggerRow],
        executions: list[Execution],
        *,
        deleted: list[TriggerKey] | None = None,
        logs: list[NewLog] | None = None,
        lease: SchedulerLease | None = None,
    ) -> None:
        """In ONE transaction: upsert `states`, delete `deleted`, insert `executions`
        (a Wake message each, unless already terminated) and `logs`.

        With `lease`, the transaction first renews it and raises LeaseLost (writing
        nothing) when another instance holds it: a deposed scheduler cannot fire.
        """
        ...

    async def get_trigger(
        self, namespace: str, flow_id: str, trigger_id: str
    ) -> TriggerRow | None: ...

    async def list_triggers(
        self, *, namespace: str | None = None, flow_id: str | None = None, limit: int = 1000
    ) -> list[TriggerRow]: ...

    async def triggers_updated_since(self, since: float) -> list[TriggerRow]:
        """Rows written after `since` (epoch seconds): changes made by the CLI or API."""
        ...

    async def claim_scheduler_lease(self, lease: SchedulerLease) -> bool:
        """Take or renew the scheduler lease if it is free, expired or already ours."""
        ...

    async def release_scheduler_lease(self, holder: str) -> None:
        """Give the lease up (a clean stop), so a standby takes over at once."""
        ...

    async def scheduler_lease_holder(self) -> tuple[str, float] | None:
        """(holder, seconds left) of the scheduler lease, None when nobody holds it."""
        ...


class LogStore(Protocol):
    """Task log lines: appended with a sequence id in commit order, followed by it."""

    async def append_logs(self, logs: list[NewLog]) -> list[LogEntry]: ...

    async def list_logs(
        self, execution_id: str, after: int = 0, limit: int = 10_000, *, ended: bool = False
    ) -> list[LogEntry]:
        """The lines of one execution with `seq > after`, oldest first, up to the log
        horizon (store/plans/logs.py): a follower's cursor never passes a line that has yet
        to commit. `ended`: the execution has ended, every line of it is committed."""
        ...

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
        """Log lines with `seq > after` matching every filter given, oldest first, up to
        the log horizon (`ended` with `execution_id`: that execution's are all there)."""
        ...

    async def find_logs(
        self, query: Query, *, now: float, limit: int = 100, offset: int = 0
    ) -> list[LogEntry]:
        """Log lines matching Kestra's query filters, newest first (`UnsupportedFilter`
        for a filter the store cannot answer)."""
        ...

    async def count_found_logs(self, query: Query, *, now: float) -> int: ...

    async def latest_logs(
        self,
        *,
        execution_id: str | None = None,
        namespace: str | None = None,
        flow_id: str | None = None,
        levels: list[str] | None = None,
        limit: int = 100,
    ) -> list[LogEntry]:
        """The last `limit` matching log lines, oldest first (the start of `logs -f`)."""
        ...


class InstanceStore(Protocol):
    """Daemons (service instances), their heartbeats, and the jobs of the silent ones."""

    async def register_instance(self, instance_id: str, roles: str) -> list[InFlightJob]:
        """Register this process after marking DEAD the instances known to be gone, and
        hand their worker claims out again. Returns the jobs they had in flight."""
        ...

    async def heartbeat(self, instance_id: str) -> bool:
        """Renew this instance's row; False when it is no longer RUNNING (another daemon
        disconnected it: a heartbeat never revives it, see store/lease.py)."""
        ...

    async def stop_instance(self, instance_id: str) -> None:
        """Mark this instance STOPPED and give back the jobs it still holds: each goes out
        again as a new attempt, and counts as handed back, not as a worker death."""
        ...

    async def disconnect_silent_instances(
        self, instance_id: str, silent_since: float, purge_before: float
    ) -> Released:
        """Mark RUNNING instances (other than `instance_id`) whose last heartbeat is older
        than `silent_since` DISCONNECTED, end their database sessions (the fence), and
        release the worker claims of every instance not RUNNING, so live workers run those
        jobs again (each delivery is a new attempt of its task run). Nothing here waits on
        a frozen instance's locks: what it still locks is released at a later pass. Rows
        not RUNNING with a heartbeat older than `purge_before` are deleted. Returns the ids
        disconnected and the jobs handed out."""
        ...

    async def list_instances(self) -> list[InstanceRow]:
        """Every instance row, running ones first, newest first."""
        ...


class KVStore(Protocol):
    """The KV table (Kestra's KV store)."""

    async def kv_get(self, namespace: str, key: str) -> KVEntry | None: ...

    async def kv_set(self, entry: KVEntry, *, overwrite: bool = True) -> bool:
        """Write `entry`; False (nothing written) when `overwrite` is off and a live row exists."""
        ...

    async def kv_delete(self, namespace: str, key: str) -> bool: ...

    async def kv_list(self, namespace: str | None = None) -> list[KVEntry]:
        """Every row (expired ones too) of one namespace, or of all, ordered by key."""
        ...

    async def kv_stamp(self) -> tuple[int, float]:
        """(row count, latest `updated`): changes when any writer changes the table."""
        ...


class MaintenanceStore(Protocol):
    """The bulk reads and deletes of the maintenance tasks (counts, purges, retention)."""

    async def count_executions_by_flow(
        self,
        *,
        start: str | None,
        end: str | None,
        states: list[str] | None = None,
        namespaces: list[str] | None = None,
        flows: list[tuple[str, str]] | None = None,
    ) -> list[FlowCount]: ...

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
        """One keyset page (by id) of executions in `states`; `namespace` without
        `flow_id` also matches its child namespaces, as in Kestra's purge."""
        ...

    async def delete_executions(
        self, ids: list[str], *, executions: bool = True, logs: bool = True
    ) -> tuple[int, int]:
        """Delete executions and/or their log lines in one transaction: (executions, logs)."""
        ...

    async def purge_logs(
        self,
        *,
        end: str,
        start: str | None = None,
        namespace: str | None = None,
        flow_id: str | None = None,
        execution_id: str | None = None,
        levels: list[str] | None = None,
    ) -> int: ...


class Store(
    Lifecycle,
    QueueStore,
    ExecutionStore,
    FlowStore,
    TriggerStore,
    LogStore,
    InstanceStore,
    KVStore,
    MaintenanceStore,
    Protocol,
):
    """Every role: the one door to the database (see `store.factory.open_store`)."""
