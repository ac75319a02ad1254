"""Group commit for executions created over HTTP.

Each request stored alone would cost one fsync'd transaction, and the store has a single
writer: under a burst of webhook calls the commits queue up behind each other. Requests
that arrive while a write is in flight are stored together by the next one, so the
number of transactions follows the writer's speed instead of the request rate; a lone
request is written at once, with no added delay.
"""

from __future__ import annotations

import asyncio

from kestrad.model.execution import Execution
from kestrad.runtime.engine import Engine

MAX_BATCH = 500


class CreationBatcher:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._pending: list[tuple[Execution, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def store(self, execution: Execution) -> None:
        """Return once `execution` is committed (alone or with others)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((execution, done))
        if self._writer is None or self._writer.done():
            # A task of its own: a request that goes away must not strand the others.
            self._writer = loop.create_task(self._write())
        await done

    async def _write(self) -> None:
        while self._pending:
            batch = self._pending[:MAX_BATCH]
            del self._pending[:MAX_BATCH]
            try:
                await self.engine.store_executions([execution for execution, _ in batch])
            except Exception as exc:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)
