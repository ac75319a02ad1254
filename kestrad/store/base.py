"""The Store protocol: the only door to the database, and the records that pass through it.

Runtime code depends on this protocol, never on SQLite or PostgreSQL directly. Methods are
batch-shaped on purpose: one call is one transaction, so the executor's whole poll batch
(claim, load, advance, save, publish, delete) commits once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import msgspec

from kestrad.model.execution import Execution
from kestrad.model.records import FlowCount, KVEntry, LogEntry, NewLog

FlowKey = tuple[str, str, int]


class FlowRow(msgspec.Struct, kw_only=True):
    """One stored revision of a flow, with its YAML source."""

    namespace: str
    id: str
    revision: int
    source: str
    hash: str
    file: str | None = None
    disabled: bool = False
    deleted: bool = False


class QueueMessage(msgspec.Struct, kw_only=True):
    seq: int
    key: str
    payload: bytes


class Outgoing(msgspec.Struct, kw_only=True):
    """A message to publish: `available_at` (epoch seconds) delays its delivery."""

    key: str
    payload: bytes
    available_at: float = 0.0


WindowKey = tuple[str, str, str, str]


class TriggerWindow(msgspec.Struct, kw_only=True):
    """The current time window of one multiple condition of a Flow trigger.

    `results` maps each named condition already satisfied in the window to the instant
    (epoch seconds) it last was; `outputs` merges the outputs of those upstream executions.
    """

    namespace: str
    flow_id: str
    trigger_id: str
    condition_id: str
    start: float
    end: float
    results: dict[str, float] = msgspec.field(default_factory=dict)
    outputs: dict[str, object] | None = None

    @property
    def key(self) -> WindowKey:
        return (self.namespace, self.flow_id, self.trigger_id, self.condition_id)


class ExecutorOutcome(msgspec.Struct, kw_only=True):
    """Everything one executor batch writes, committed together (outbox style)."""

    executions: list[Execution] = msgspec.field(default_factory=list)
    # Executions this batch creates (subflows, retries as new executions); their first
    # message is among `execution_messages`, so its delivery time is the executor's choice.
    new_executions: list[Execution] = msgspec.field(default_factory=list)
    execution_messages: list[Outgoing] = msgspec.field(default_factory=list)
    worker_jobs: list[Outgoing] = msgspec.field(default_factory=list)
    logs: list[NewLog] = msgspec.field(default_factory=list)
    ended: list[Execution] = msgspec.field(default_factory=list)
    consumed: int = 0
    stored_logs: list[LogEntry] = msgspec.field(default_factory=list)
    # Worker jobs inserted already claimed by the local worker (see LocalBatch.claim_for).
    claimed_jobs: list[QueueMessage] = msgspec.field(default_factory=list)
    # Flow-trigger windows this batch touched, in their final state (None = delete). A
    # dict so a second execution ending in the same batch reads what the first wrote.
    trigger_windows: dict[WindowKey, TriggerWindow | None] = msgspec.field(default_factory=dict)
    # Schedule locks to clear with the end of the executions holding them:
    # (namespace, flow id, trigger id, execution id); a lock taken since is left alone.
    released_triggers: list[tuple[str, str, str, str]] = msgspec.field(default_factory=list)


class LocalBatch(msgspec.Struct, kw_only=True):
    """What the worker of this same process hands the executor without a round trip.

    Results of finished jobs are consumed as if they were queue messages, their job rows
    deleted and their logs stored, all in the executor's transaction: one commit per
    round trip instead of three. New jobs, up to `claim_limit`, are inserted already
    claimed by `claim_for` and given straight to the local worker after the commit. A
    crash before the commit loses nothing but work to redo: the job rows stay claimed by
    a dead instance and are handed out again.
    """

    results: list[Outgoing] = msgspec.field(default_factory=list)
    done: list[int] = msgspec.field(default_factory=list)
    logs: list[NewLog] = msgspec.field(default_factory=list)
    claim_for: str | None = None
    claim_limit: int = 0
    claimed_at: float = 0.0  # the stamp of the jobs claimed here (0: now)
    # Executions created in this process (API, CLI): inserted and first advanced in this
    # same transaction, instead of a commit of their own and a queue round trip.
    created: list[Execution] = msgspec.field(default_factory=list)

    def empty(self) -> bool:
        return not (self.results or self.done or self.logs or self.created)


class InstanceRow(msgspec.Struct, kw_only=True):
    """One daemon (or `kestrad run`) as the `service_instance` table knows it."""

    id: str
    roles: str
    host: str
    pid: int
    started: float  # epoch seconds
    heartbeat: float  # epoch seconds of the last heartbeat
    state: str  # RUNNING, DISCONNECTED, STOPPED or DEAD


class QueueStats(msgspec.Struct, kw_only=True):
    """One queue topic at a glance, for metrics: rows waiting, and the oldest due one."""

    topic: str
    depth: int
    # `available_at` (epoch seconds) of the oldest message that is due and unclaimed.
    oldest_due: float | None = None


class BatchLocks(msgspec.Struct, kw_only=True):
    """What one executor batch may read through its BatchView, declared before it reads.

    `flows`: the (namespace, flow id) → limit of flows with a `concurrency` limit that have
    an execution in the batch (it may be admitted, or end and free a slot). `windows`: the
    Flow-trigger windows an execution of the batch may read or write if it ends. A store
    with several writers locks these before reading them (see PostgresStore); only flows
    with a limit and triggers with preconditions pay for it.
    """

    flows: dict[tuple[str, str], int] = msgspec.field(default_factory=dict)
    windows: set[WindowKey] = msgspec.field(default_factory=set)


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


TriggerKey = tuple[str, str, str]


class Backfill(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A closed range [start, end] of past fire times replayed with their own cursor.

    `cursor` is the next fire time to replay; the backfill is done once it passes `end`.
    """

    start: float
    end: float
    cursor: float
    paused: bool = False
    inputs: dict[str, object] | None = None
    labels: dict[str, str] | None = None


class TriggerRow(msgspec.Struct, kw_only=True):
    """The scheduler's state of one trigger; `execution_id` set means locked by that run.

    `next_fire_at` is always an explicit instant (epoch seconds): recovering missed
    schedules is decided once, at start or re-enable, never by a NULL here.
    `fingerprint` identifies the schedule definition (cron, zone, dates) it was computed
    from, so a changed cron gets a fresh next fire time and an unchanged one keeps its own.
    """

    namespace: str
    flow_id: str
    trigger_id: str
    next_fire_at: float
    execution_id: str | None = None
    disabled: bool = False
    backfill: Backfill | None = None
    fingerprint: str = ""
    updated: float = 0.0
    # The last fire date while `next_fire_at` is the fire time right after it (else None):
    # the next fire's `trigger.previous` without searching the cron backwards.
    last_fire_at: float | None = None

    @property
    def key(self) -> TriggerKey:
        return (self.namespace, self.flow_id, self.trigger_id)


class SchedulerLease(msgspec.Struct, kw_only=True, frozen=True):
    """Who may fire triggers: `holder` (an instance id) for `seconds` after each renewal.

    Several daemons may run the scheduler role on one database; the one holding the lease
    fires, the others stand by and claim it once it expires (its holder died or hung).
    """

    holder: str
    seconds: float


class LeaseLost(Exception):
    """The scheduler lease is held by another instance: nothing of the transaction that
    found out was written, and this scheduler must stop firing."""


class ExecutionBrief(msgspec.Struct, kw_only=True, frozen=True):
    """What the monitor needs of an execution: its state and when it was created."""

    id: str
    state: str
    start_date: str


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


class Store(Protocol):
    async def migrate(self) -> None: ...

    async def close(self) -> None: ...

    # flows
    async def save_flow(
        self, namespace: str, flow_id: str, source: str, digest: str, file: str | None
    ) -> FlowRow: ...

    async def set_flow_flags(self, row: FlowRow, *, disabled: bool, deleted: bool) -> None: ...

    async def get_flow(
        self, namespace: str, flow_id: str, revision: int | None = None
    ) -> FlowRow | None: ...

    async def list_flows(self) -> list[FlowRow]: ...

    # executions
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

    async def publish_events(self, messages: list[Outgoing]) -> None: ...

    # queue
    async def executor_batch(
        self, limit: int, handler: BatchHandler, local: LocalBatch | None = None
    ) -> ExecutorOutcome | None: ...

    async def next_event_due(self) -> float | None: ...

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

    # logs
    async def append_logs(self, logs: list[NewLog]) -> list[LogEntry]: ...

    async def list_logs(
        self, execution_id: str, after: int = 0, limit: int = 10_000
    ) -> list[LogEntry]: ...

    # service instances
    async def register_instance(self, instance_id: str, roles: str) -> None: ...

    async def heartbeat(self, instance_id: str) -> None: ...

    async def stop_instance(self, instance_id: str) -> None: ...

    async def disconnect_silent_instances(
        self, instance_id: str, silent_since: float, purge_before: float
    ) -> list[str]:
        """Mark RUNNING instances (other than `instance_id`) whose last heartbeat is older
        than `silent_since` DISCONNECTED and release their worker claims, so live workers
        run those jobs again (same payload, so the attempt number is kept). Rows not
        RUNNING with a heartbeat older than `purge_before` are deleted. Returns the ids
        disconnected."""
        ...

    async def list_instances(self) -> list[InstanceRow]:
        """Every instance row, running ones first, newest first."""
        ...

    # daemon: drain and the `logs` command
    async def count_worker_claims(self, instance_id: str) -> int:
        """Worker jobs claimed by this instance whose results are not stored yet."""
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
    ) -> list[LogEntry]:
        """Log lines with `seq > after` matching every filter given, oldest first."""
        ...

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

    # API and metrics reads
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

    async def active_executions(self) -> list[tuple[str, str]]: ...

    async def queue_stats(self, now: float) -> list[QueueStats]: ...

    async def ping(self) -> None: ...

    # scheduler: trigger states
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

    async def claim_scheduler_lease(self, lease: SchedulerLease) -> bool:
        """Take or renew the scheduler lease if it is free, expired or already ours."""
        ...

    async def release_scheduler_lease(self, holder: str) -> None:
        """Give the lease up (a clean stop), so a standby takes over at once."""
        ...

    async def scheduler_lease_holder(self) -> tuple[str, float] | None:
        """(holder, seconds left) of the scheduler lease, None when nobody holds it."""
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

    async def execution_briefs(self, execution_ids: list[str]) -> list[ExecutionBrief]:
        """State and creation date of each given execution that exists, in one query."""
        ...


class ExecutionRef(msgspec.Struct, kw_only=True, frozen=True):
    """Where an execution's rows and files live, for purges."""

    id: str
    namespace: str
    flow_id: str


class MaintenanceStore(Protocol):
    """The KV table and the bulk reads and deletes of the maintenance tasks.

    Kept apart from `Store` so backends add them as a block; every Store implements both.
    """

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
