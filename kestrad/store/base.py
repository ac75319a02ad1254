"""The store's public face: the records that pass through it and its role protocols.

Runtime code depends on these, never on SQLite or PostgreSQL directly. The records live
in `store/records.py`, the protocols (one per role, and `Store`, all of them) in
`store/roles.py`; this module re-exports both so every consumer has one import path.
"""

from __future__ import annotations

from kestrad.model.records import FlowCount, KVEntry, LogEntry, NewLog
from kestrad.store.records import (
    Backfill,
    BatchLocks,
    ExecutionBrief,
    ExecutionRef,
    ExecutorOutcome,
    FlowChange,
    FlowKey,
    FlowRow,
    InFlightJob,
    InstanceRow,
    LeaseLost,
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
from kestrad.store.roles import (
    BatchHandler,
    BatchView,
    ExecutionStore,
    FlowStore,
    InstanceStore,
    KVStore,
    Lifecycle,
    LogStore,
    MaintenanceStore,
    QueueStore,
    Store,
    TriggerStore,
)

__all__ = [
    "Backfill",
    "BatchHandler",
    "BatchLocks",
    "BatchView",
    "ExecutionBrief",
    "ExecutionRef",
    "ExecutionStore",
    "ExecutorOutcome",
    "FlowChange",
    "FlowCount",
    "FlowKey",
    "FlowRow",
    "FlowStore",
    "InFlightJob",
    "InstanceRow",
    "InstanceStore",
    "KVEntry",
    "KVStore",
    "LeaseLost",
    "Lifecycle",
    "LocalBatch",
    "LogEntry",
    "LogStore",
    "MaintenanceStore",
    "NewLog",
    "Outgoing",
    "QueueMessage",
    "QueueStats",
    "QueueStore",
    "Released",
    "SchedulerLease",
    "Store",
    "TriggerKey",
    "TriggerRow",
    "TriggerStore",
    "TriggerWindow",
    "WindowKey",
]
