"""In-process notifications: who is waiting for an execution, who follows logs.

Correctness never depends on these (the store is the truth); they only cut waits short,
like PostgreSQL's NOTIFY will across daemons.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from kestrad.model.execution import Execution
from kestrad.store.base import LogEntry


class Hub:
    """Execution-change waiters and log subscribers, plus the queues' wake-up events."""

    def __init__(self) -> None:
        self.executor_wake = asyncio.Event()
        self.worker_wake = asyncio.Event()
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._log_subscribers: list[Callable[[list[LogEntry]], None]] = []
        self._execution_subscribers: list[Callable[[Execution], None]] = []

    # -- executions ---------------------------------------------------------------------------
    def watch(self, execution_id: str) -> asyncio.Event:
        event = asyncio.Event()
        self._waiters.setdefault(execution_id, set()).add(event)
        return event

    def unwatch(self, execution_id: str, event: asyncio.Event) -> None:
        waiters = self._waiters.get(execution_id)
        if waiters is not None:
            waiters.discard(event)
            if not waiters:
                del self._waiters[execution_id]

    def executions_changed(self, executions: list[Execution]) -> None:
        for execution in executions:
            for event in self._waiters.get(execution.id, ()):
                event.set()
            for callback in self._execution_subscribers:
                callback(execution)

    def subscribe_executions(self, callback: Callable[[Execution], None]) -> Callable[[], None]:
        self._execution_subscribers.append(callback)
        return lambda: self._execution_subscribers.remove(callback)

    # -- logs ---------------------------------------------------------------------------------
    def subscribe_logs(self, callback: Callable[[list[LogEntry]], None]) -> Callable[[], None]:
        self._log_subscribers.append(callback)
        return lambda: self._log_subscribers.remove(callback)

    def logs_stored(self, entries: list[LogEntry]) -> None:
        if entries:
            for callback in list(self._log_subscribers):
                callback(entries)
