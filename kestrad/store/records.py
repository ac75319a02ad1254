"""The records that pass through the store: flows, queue messages, what one executor
batch reads and writes, trigger states, instances. Plain msgspec Structs, no I/O.

Consumers import them from `kestrad.store.base`, which re-exports this module and the role
protocols of `kestrad.store.roles`.
"""

from __future__ import annotations

import msgspec

from kestrad.model.execution import Execution
from kestrad.model.records import LogEntry, NewLog

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


class FlowChange(msgspec.Struct, kw_only=True):
    """One stored revision's state without its source, and when it was last written.

    What a process polls to learn of flow changes made by others (runtime/flow_follow.py):
    light enough to read every half second; the source is fetched only for a revision the
    process has not parsed yet. `updated` is ISO-8601 UTC text (`model/state.py: now_iso`)."""

    namespace: str
    id: str
    revision: int
    hash: str
    file: str | None = None
    disabled: bool = False
    deleted: bool = False
    updated: str


class QueueMessage(msgspec.Struct, kw_only=True):
    """A claimed message. For worker jobs, `deliveries` counts the claims of this job (this
    one included) and `handed_back` those a daemon gave back at a graceful stop: every other
    earlier delivery ended with its worker dead (see 030_worker_deliveries.sql)."""

    seq: int
    key: str
    payload: bytes
    deliveries: int = 1
    handed_back: int = 0

    @property
    def deaths(self) -> int:
        """Earlier deliveries of this job whose worker died under it."""
        return max(self.deliveries - 1 - self.handed_back, 0)


class InFlightJob(msgspec.Struct, kw_only=True):
    """A worker job claimed by an instance found dead, as it is handed out again."""

    instance_id: str
    seq: int
    key: str  # the execution id
    payload: bytes
    deliveries: int
    handed_back: int


class Released(msgspec.Struct, kw_only=True):
    """What a liveness pass did: the instances it disconnected and the jobs they held."""

    instances: list[str]
    jobs: list[InFlightJob] = msgspec.field(default_factory=list)


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
    polled: int = 0  # rows the batch's poll returned (as many as its limit: more may wait)
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


class HandedOut(msgspec.Struct, kw_only=True):
    """A worker job taken from an instance that is gone, to be run again."""

    instance: str
    seq: int
    key: str  # the execution id


class Handout(msgspec.Struct, kw_only=True):
    """One liveness pass: the instances it disconnected, the jobs it handed out."""

    instances: list[str]
    jobs: list[HandedOut]


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
    Flow-trigger windows an execution of the batch may read or write if it ends. The batch
    locks these before reading them where several writers share the database (see
    store/plans/batch.py); only flows with a limit and triggers with preconditions pay.
    """

    flows: dict[tuple[str, str], int] = msgspec.field(default_factory=dict)
    windows: set[WindowKey] = msgspec.field(default_factory=set)


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


class ExecutionRef(msgspec.Struct, kw_only=True, frozen=True):
    """Where an execution's rows and files live, for purges."""

    id: str
    namespace: str
    flow_id: str
