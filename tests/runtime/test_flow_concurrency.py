"""Flow `concurrency`: never more than `limit` running, queued ones start as slots free."""

from __future__ import annotations

import itertools

import pytest

from kestrad.model.state import parse_iso
from kestrad.runtime.engine import Engine

pytestmark = pytest.mark.anyio


def _flow(behavior: str, limit: int = 1) -> str:
    return f"""
id: limited
namespace: tests.concurrency
concurrency:
  limit: {limit}
  behavior: {behavior}
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT0.3S
"""


def _running_interval(execution):
    dates = [(h.state, parse_iso(h.date)) for h in execution.state.histories]
    start = next(d for s, d in dates if s == "RUNNING")
    return start, dates[-1][1]


async def test_queue_runs_one_at_a_time_in_creation_order() -> None:
    async with Engine.open() as engine:
        await engine.deploy_source(_flow("QUEUE"))
        created = [await engine.create_execution("tests.concurrency", "limited") for _ in range(4)]
        finals = [await engine.wait_for(e.id, timeout=30) for e in created]
    assert [f.state.current for f in finals] == ["SUCCESS"] * 4
    assert sum(1 for f in finals if f.state.has("QUEUED")) >= 2
    intervals = sorted(_running_interval(f) for f in finals)
    for (_, end), (start, _) in itertools.pairwise(intervals):
        assert start >= end, "two executions of a limit-1 flow ran at the same time"


async def test_cancel_and_fail_refuse_executions_over_the_limit() -> None:
    for behavior, refused in (("CANCEL", "CANCELLED"), ("FAIL", "FAILED")):
        async with Engine.open() as engine:
            await engine.deploy_source(_flow(behavior))
            first = await engine.create_execution("tests.concurrency", "limited")
            await engine.wait_for(first.id, until=lambda e: e.state.has("RUNNING"))
            second = await engine.create_execution("tests.concurrency", "limited")
            assert (await engine.wait_for(second.id)).state.current == refused
            assert (await engine.wait_for(first.id)).state.current == "SUCCESS"


async def test_killing_the_running_execution_starts_the_queued_one() -> None:
    async with Engine.open() as engine:
        await engine.deploy_source(_flow("QUEUE").replace("PT0.3S", "PT30S"))
        first = await engine.create_execution("tests.concurrency", "limited")
        await engine.wait_for(first.id, until=lambda e: e.state.has("RUNNING"))
        second = await engine.create_execution("tests.concurrency", "limited")
        await engine.wait_for(second.id, until=lambda e: e.state.current == "QUEUED")
        await engine.kill(first.id)
        assert (await engine.wait_for(first.id)).state.current == "KILLED"
        running = await engine.wait_for(second.id, until=lambda e: e.state.has("RUNNING"))
        assert running.state.has("QUEUED")
        await engine.kill(second.id)
        assert (await engine.wait_for(second.id)).state.current == "KILLED"
