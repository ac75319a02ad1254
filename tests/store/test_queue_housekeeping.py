"""An execution that ends takes its queue messages with it, on every backend: a delayed
timer (a Pause's `delay`) and a worker job not yet started (a Parallel branch waiting for a
slot) are deleted by key in the transaction that ends it, not left to fire later."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from kestrad.config import Config
from kestrad.runtime.engine import Engine
from tests.conftest import STORE_BACKENDS, postgres_database, require_postgres

pytestmark = pytest.mark.anyio

DELAYED = """
id: delayed
namespace: tests.housekeeping
tasks:
  - id: later
    type: io.kestra.plugin.core.flow.Pause
    delay: PT1H
  - id: never
    type: io.kestra.plugin.core.log.Log
    message: not yet
"""

WAITING = """
id: waiting
namespace: tests.housekeeping
tasks:
  - id: both
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: first
        type: io.kestra.plugin.core.flow.Sleep
        duration: PT30S
        timeout: PT1M  # with a timeout a Sleep runs on the worker (a job, a slot)
      - id: second
        type: io.kestra.plugin.core.flow.Sleep
        duration: PT30S
        timeout: PT1M
"""
TIMER = """
id: timer
namespace: tests.housekeeping
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT1H
"""


@contextlib.asynccontextmanager
async def engine_on(backend: str, tmp_path: Path) -> AsyncIterator[Engine]:
    config = Config()
    config.storage.path = str(tmp_path / "storage")
    config.worker.concurrency = 1  # the second branch waits in queue_worker
    async with contextlib.AsyncExitStack() as stack:
        if backend == "postgres":
            require_postgres()
            url = await stack.enter_async_context(postgres_database())
        else:
            url = f"sqlite:///{tmp_path}/kestrad.db"
        yield await stack.enter_async_context(Engine.open(url, config=config))


async def queue_depths(engine: Engine) -> dict[str, int]:
    return {s.topic: s.depth for s in await engine.store.queue_stats(time.time())}


@pytest.mark.parametrize("backend", STORE_BACKENDS)
async def test_killed_executions_leave_no_queue_messages(backend: str, tmp_path: Path) -> None:
    async with engine_on(backend, tmp_path) as engine:
        for source in (DELAYED, WAITING, TIMER):
            await engine.deploy_source(source)
        delayed = await engine.create_execution("tests.housekeeping", "delayed")
        waiting = await engine.create_execution("tests.housekeeping", "waiting")
        timer = await engine.create_execution("tests.housekeeping", "timer")
        await engine.wait_for(delayed.id, lambda e: e.state.current == "PAUSED")
        await engine.wait_for(
            timer.id,
            lambda e: bool(e.task_run_list) and e.task_run_list[0].state.current == "RUNNING",
        )
        await engine.wait_for(waiting.id, lambda e: e.state.current == "RUNNING")
        with anyio.fail_after(10):
            while (await queue_depths(engine))["worker"] < 2:
                await anyio.sleep(0.02)
        # Now: a Resume due in an hour, one job running and one waiting for the slot, and a
        # Sleep's end due in an hour (a timer: no job).
        for execution in (delayed, waiting, timer):
            await engine.kill(execution.id)
            assert (await engine.wait_for(execution.id, timeout=10)).state.current == "KILLED"
        with anyio.fail_after(5):
            while (depths := await queue_depths(engine)) != {"execution": 0, "worker": 0}:
                await anyio.sleep(0.05)
        assert depths == {"execution": 0, "worker": 0}
        killed = await engine.get_execution(waiting.id)
        assert killed is not None
        second = [t for t in killed.task_run_list if t.task_id == "second"]
        assert all(t.state.current == "KILLED" for t in second)
