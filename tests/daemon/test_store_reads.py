"""The store methods the daemon added, on every backend: log searches and worker claims."""

from __future__ import annotations

import pytest

from kestrad.model.state import now_iso
from kestrad.store.base import ExecutorOutcome, NewLog, Outgoing

pytestmark = pytest.mark.anyio


def _log(execution_id: str, flow_id: str, level: str, message: str) -> NewLog:
    return NewLog(
        execution_id=execution_id,
        namespace="ns",
        flow_id=flow_id,
        task_id="t",
        task_run_id="tr",
        attempt=1,
        level=level,
        timestamp=now_iso(),
        message=message,
    )


async def test_log_searches_filter_and_page_by_sequence(store) -> None:
    stored = await store.append_logs(
        [
            _log("e1", "a", "INFO", "one"),
            _log("e1", "a", "WARN", "two"),
            _log("e2", "b", "ERROR", "three"),
            _log("e2", "b", "DEBUG", "four"),
        ]
    )
    first = stored[0].seq
    everything = await store.search_logs(after=0)
    assert [e.message for e in everything] == ["one", "two", "three", "four"]
    assert [e.message for e in await store.search_logs(after=first)] == ["two", "three", "four"]
    assert [e.message for e in await store.search_logs(execution_id="e2")] == ["three", "four"]
    assert [e.message for e in await store.search_logs(namespace="ns", flow_id="a")] == [
        "one",
        "two",
    ]
    severe = await store.search_logs(levels=["WARN", "ERROR"])
    assert [e.message for e in severe] == ["two", "three"]
    assert [e.message for e in await store.search_logs(limit=1)] == ["one"]

    latest = await store.latest_logs(limit=2)
    assert [e.message for e in latest] == ["three", "four"]  # the last two, oldest first
    assert [e.message for e in await store.latest_logs(flow_id="a", limit=5)] == ["one", "two"]
    assert await store.latest_logs(levels=[], limit=5) == []


class _TwoJobs:
    """An executor batch handler that turns any message into two worker jobs."""

    def missing_flows(self, executions: object) -> set:
        return set()

    def add_flows(self, rows: object) -> None:
        return None

    def process(self, messages: object, executions: object, *view: object) -> ExecutorOutcome:
        jobs = [Outgoing(key="e", payload=b"job") for _ in range(2)]
        return ExecutorOutcome(worker_jobs=jobs)


async def test_count_worker_claims_counts_this_instance_only(store) -> None:
    await store.register_instance("me", "worker")
    await store.register_instance("other", "worker")
    await store.publish_events([Outgoing(key="e", payload=b"event")])
    assert await store.executor_batch(10, _TwoJobs()) is not None
    assert await store.count_worker_claims("me") == 0
    mine = await store.claim_worker_jobs("me", 1)
    theirs = await store.claim_worker_jobs("other", 1)
    assert (len(mine), len(theirs)) == (1, 1)
    assert await store.count_worker_claims("me") == 1
    await store.complete_worker_jobs([], [mine[0].seq], [])
    assert await store.count_worker_claims("me") == 0
    assert await store.count_worker_claims("other") == 1
