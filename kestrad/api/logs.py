"""Task logs of an execution: all of them at once, or followed live over SSE.

Following subscribes to new lines first and back-fills from the store second, dropping
any line whose sequence id was already sent, so nothing committed between the two steps
is lost or repeated. Each event's `id:` is the line's sequence id: a client reconnecting
with `Last-Event-ID` continues right after the last line it got. The stream ends with an
`end` event once the execution is terminal and every line it wrote was sent (the engine
commits a task's lines before the result that lets the execution end).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kestrad.api import sse
from kestrad.api.context import ApiContext, api, wait_for
from kestrad.api.errors import ApiError
from kestrad.api.executions import wait_exists
from kestrad.api.responses import encode_json, json_response
from kestrad.model.execution import Execution
from kestrad.model.state import TERMINATED
from kestrad.store.base import LogEntry

LEVELS = {"TRACE": 0, "DEBUG": 1, "INFO": 2, "WARN": 3, "WARNING": 3, "ERROR": 4}
PAGE = 1000


class LogFilter:
    """`minLevel`, `taskId`, `taskRunId` and `attempt` of a logs request."""

    def __init__(self, request: Request) -> None:
        query = request.query_params
        level = (query.get("minLevel") or "").upper()
        if level and level not in LEVELS:
            raise ApiError(400, f"Unknown level `{query.get('minLevel')}`: use one of {_names()}")
        self.min_level = LEVELS.get(level, 0)
        self.task_id = query.get("taskId") or None
        self.task_run_id = query.get("taskRunId") or None
        attempt = query.get("attempt")
        try:
            self.attempt = int(attempt) if attempt else None
        except ValueError:
            raise ApiError(
                400, f"Query parameter `attempt` must be an integer, not `{attempt}`"
            ) from None

    def __call__(self, entry: LogEntry) -> bool:
        return (
            LEVELS.get(entry.level.upper(), 2) >= self.min_level
            and (self.task_id is None or entry.task_id == self.task_id)
            and (self.task_run_id is None or entry.task_run_id == self.task_run_id)
            and (self.attempt is None or entry.attempt == self.attempt)
        )


def _names() -> str:
    return ", ".join(name for name in LEVELS if name != "WARNING")


def log_json(entry: LogEntry) -> dict[str, Any]:
    """A line in Kestra's LogEntry shape, plus its sequence id."""
    return {
        "namespace": entry.namespace,
        "flowId": entry.flow_id,
        "taskId": entry.task_id,
        "executionId": entry.execution_id,
        "taskRunId": entry.task_run_id,
        "attemptNumber": entry.attempt,
        "timestamp": entry.timestamp,
        "level": entry.level,
        "message": entry.message,
        "sequence": entry.seq,
    }


async def _pages(
    ctx: ApiContext, execution_id: str, after: int, *, ended: bool = False
) -> AsyncIterator[list[LogEntry]]:
    while True:
        page = await ctx.engine.store.list_logs(execution_id, after=after, limit=PAGE, ended=ended)
        if page:
            yield page
        if len(page) < PAGE:
            return
        after = page[-1].seq


async def list_logs(request: Request) -> Response:
    ctx = api(request)
    execution_id = request.path_params["execution_id"]
    keep = LogFilter(request)
    if await ctx.engine.get_execution(execution_id) is None:
        raise ApiError(404, "Execution not found", executionId=execution_id)
    out = [log_json(e) async for page in _pages(ctx, execution_id, 0) for e in page if keep(e)]
    return json_response(out)


def _resume_point(request: Request) -> int:
    raw = request.headers.get("last-event-id") or request.query_params.get("after") or ""
    if not raw.strip():
        return 0
    try:
        return max(int(raw.strip()), 0)
    except ValueError:
        raise ApiError(400, f"Last-Event-ID must be a log sequence id, not `{raw}`") from None


async def follow(request: Request) -> Response:
    ctx = api(request)
    execution_id = request.path_params["execution_id"]
    keep = LogFilter(request)
    after = _resume_point(request)
    first = await wait_exists(ctx, execution_id)
    return sse.sse_response(_LogStream(ctx, first, keep, after).run())


class _LogStream:
    """One follower: the hub's lines only wake it; it reads the store from its cursor.

    Lines are read from the store, below the log horizon, and never taken from the hub:
    on PostgreSQL another daemon (or another connection of this one) may still commit a
    line with a smaller seq than a line the hub just announced, and a cursor moved past
    it would skip it (store/plans/logs.py)."""

    def __init__(self, ctx: ApiContext, execution: Execution, keep: LogFilter, after: int):
        self.ctx = ctx
        self.execution_id = execution.id
        self.keep = keep
        self.sent = after  # highest sequence id already sent (or skipped by the client)
        self.ended = execution.state.current in TERMINATED
        self.wake = ctx.open_stream()

    def _on_logs(self, entries: list[LogEntry]) -> None:
        if any(e.execution_id == self.execution_id for e in entries):
            self.wake.set()

    def _on_execution(self, execution: Execution) -> None:
        if execution.id == self.execution_id and execution.state.current in TERMINATED:
            self.ended = True
            self.wake.set()

    def _events(self, entries: list[LogEntry]) -> list[bytes]:
        out = []
        for entry in entries:
            if entry.seq <= self.sent:
                continue
            self.sent = entry.seq
            if self.keep(entry):
                out.append(sse.event(encode_json(log_json(entry)), event_id=entry.seq))
        return out

    async def _backfill(self, *, ended: bool = False) -> AsyncIterator[bytes]:
        async for page in _pages(self.ctx, self.execution_id, self.sent, ended=ended):
            for chunk in self._events(page):
                yield chunk

    async def run(self) -> AsyncIterator[bytes]:
        hub = self.ctx.engine.hub
        unsubscribe_logs = hub.subscribe_logs(self._on_logs)  # subscribe first …
        unsubscribe_executions = hub.subscribe_executions(self._on_execution)
        try:
            async for chunk in self._backfill():  # … then back-fill
                yield chunk
            last_output = time.monotonic()
            while True:
                chunks = [chunk async for chunk in self._backfill()]
                if chunks:
                    yield b"".join(chunks)
                    last_output = time.monotonic()
                if self.ended:
                    # The terminal state was committed after every line of the execution:
                    # one more read from the store and nothing can be missing.
                    async for chunk in self._backfill(ended=True):
                        yield chunk
                    yield self._final("end")
                    return
                if self.ctx.closing:
                    yield self._final("shutdown")
                    return
                if not await wait_for(self.wake, self.ctx.poll_interval):
                    await self._poll_state()
                    if time.monotonic() - last_output >= self.ctx.heartbeat:
                        yield sse.HEARTBEAT
                        last_output = time.monotonic()
        finally:
            unsubscribe_logs()
            unsubscribe_executions()
            self.ctx.close_stream(self.wake)

    async def _poll_state(self) -> None:
        """The hub is a hint: an end written by another daemon only shows here (and its
        lines in the next read of the loop)."""
        execution = await self.ctx.engine.get_execution(self.execution_id)
        if execution is None or execution.state.current in TERMINATED:
            self.ended = True

    def _final(self, name: str) -> bytes:
        data = {"executionId": self.execution_id, "lastSequence": self.sent}
        return sse.event(encode_json(data), name=name)
