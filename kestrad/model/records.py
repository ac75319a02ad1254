"""Plain records that cross layers: task log lines, KV entries, execution counts.

They live here, below every layer that passes them (tasks read logs and counts through
their services, the store writes them, the API and CLI print them), so none of those
layers has to import another's module to name them.
"""

from __future__ import annotations

import msgspec


class NewLog(msgspec.Struct, kw_only=True):
    execution_id: str
    namespace: str
    flow_id: str
    task_id: str | None
    task_run_id: str | None
    attempt: int | None
    level: str
    timestamp: str
    message: str


class LogEntry(msgspec.Struct, kw_only=True):
    """A stored task log line; `seq` is monotonic across the whole store."""

    seq: int
    execution_id: str
    namespace: str
    flow_id: str
    task_id: str | None
    task_run_id: str | None
    attempt: int | None
    level: str
    timestamp: str
    message: str


class KVEntry(msgspec.Struct, kw_only=True):
    """One KV pair: `value` is its JSON text, `type` its Kestra KV type.

    `expires_at` (epoch seconds, None: never) is checked by readers; an expired row is
    missing for every purpose, so nobody has to sweep the table for correctness.
    """

    namespace: str
    key: str
    value: str
    type: str
    description: str | None = None
    expires_at: float | None = None
    updated: float = 0.0

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now


class FlowCount(msgspec.Struct, kw_only=True, frozen=True):
    """Executions of one flow in a date range (execution.Count)."""

    namespace: str
    flow_id: str
    count: int
