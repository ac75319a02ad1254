"""Helpers for task tests: a real engine whose storage lives in the test's tmp_path."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio

from kestrad import storage as storage_module
from kestrad.config import Config
from kestrad.runtime.engine import Engine
from kestrad.storage import LocalStorage


@contextlib.asynccontextmanager
async def running_engine(tmp_path: Path) -> AsyncIterator[Engine]:
    """An engine with `read()`/`fileSize()`/`fileURI()` and storage under `tmp_path`."""
    previous = storage_module._default
    config = Config()
    config.storage.path = str(tmp_path / "storage")
    try:
        async with Engine.open(config=config) as engine:
            yield engine
    finally:
        storage_module._default = previous


async def run_flow(engine: Engine, source: str, timeout: float = 60.0) -> tuple[Any, list[Any]]:
    """Deploy `source`, run it to its end; returns (execution, log entries)."""
    flow = await engine.deploy_source(source)
    execution = await engine.create_execution(flow.namespace, flow.id)
    final = await engine.wait_for(execution.id, timeout=timeout)
    return final, await all_logs(engine, execution.id)


async def all_logs(engine: Engine, execution_id: str) -> list[Any]:
    """Every log line of an execution, paging past the store's per-call limit."""
    entries: list[Any] = []
    after = 0
    while True:
        page = await engine.store.list_logs(execution_id, after=after)
        if not page:
            return entries
        entries.extend(page)
        after = page[-1].seq


def run_of(execution: Any, task_id: str) -> Any:
    return next(r for r in execution.task_run_list if r.task_id == task_id)


def messages(logs: list[Any], task_id: str | None = None, level: str | None = None) -> list[str]:
    return [
        entry.message
        for entry in logs
        if (task_id is None or entry.task_id == task_id) and (level is None or entry.level == level)
    ]


async def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Poll an async or sync `check` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if hasattr(result, "__await__"):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await anyio.sleep(0.05)


def storage() -> LocalStorage:
    return storage_module.default_storage()
