"""What the executor's batch may read through its BatchView, on both stores: the running
count and oldest queued ids of the flows it declared, the windows it declared (None when
there is no row), and nothing else (one batch plan, read ahead under its locks)."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from kestrad.model.execution import Execution
from kestrad.model.state import History, StateInfo
from kestrad.store.base import (
    BatchLocks,
    BatchView,
    ExecutorOutcome,
    FlowRow,
    LocalBatch,
    Outgoing,
    QueueMessage,
    TriggerWindow,
    WindowKey,
)

pytestmark = pytest.mark.anyio

NS, FLOW = "tests.view", "limited"
WINDOW: WindowKey = (NS, "listener", "on_upstreams", "both")
EMPTY_WINDOW: WindowKey = (NS, "listener", "on_upstreams", "other")
UNDECLARED: WindowKey = (NS, "listener", "elsewhere", "both")


def _execution(i: int, state: str) -> Execution:
    e = Execution.new(namespace=NS, flow_id=FLOW, flow_revision=1)
    e.id = f"e{i}"
    date = f"2025-01-01T00:00:0{i}.000000Z"
    e.state = StateInfo(current=state, histories=[History(state=state, date=date)])
    return e


class _Handler:
    """Declares one limited flow and two windows; writes `windows`, records what it read."""

    def __init__(self, windows: dict[WindowKey, TriggerWindow | None] | None = None) -> None:
        self.windows = windows or {}
        self.seen: dict[str, object] = {}

    def missing_flows(self, executions: Iterable[Execution]) -> set[tuple[str, str, int]]:
        return set()

    def add_flows(self, rows: list[FlowRow]) -> None:
        pass

    def batch_locks(self, executions: Iterable[Execution]) -> BatchLocks:
        return BatchLocks(flows={(NS, FLOW): 2}, windows={WINDOW, EMPTY_WINDOW})

    def process(
        self, messages: list[QueueMessage], executions: dict[str, Execution], view: BatchView
    ) -> ExecutorOutcome:
        self.seen["running"] = view.running_count(NS, FLOW)
        self.seen["queued"] = view.queued_ids(NS, FLOW, 10)
        self.seen["window"] = view.trigger_window(*WINDOW)
        self.seen["empty"] = view.trigger_window(*EMPTY_WINDOW)
        try:
            view.trigger_window(*UNDECLARED)
        except LookupError:
            self.seen["undeclared"] = "refused"
        return ExecutorOutcome(trigger_windows=dict(self.windows))


async def test_the_view_answers_what_the_batch_declared_and_refuses_the_rest(store) -> None:
    states = ["RUNNING", "PAUSED", "QUEUED", "QUEUED", "QUEUED", "SUCCESS"]
    await store.create_executions([_execution(i, s) for i, s in enumerate(states)])
    window = TriggerWindow(
        namespace=WINDOW[0],
        flow_id=WINDOW[1],
        trigger_id=WINDOW[2],
        condition_id=WINDOW[3],
        start=0.0,
        end=4e9,
        results={"condition_1": 1.0},
    )
    first = _Handler({WINDOW: window})
    assert await store.executor_batch(100, first) is not None
    assert first.seen["window"] is None  # not written yet

    await store.publish_events([Outgoing(key="e0", payload=b"any")])
    second = _Handler()
    assert await store.executor_batch(100, second, LocalBatch()) is not None
    assert second.seen["running"] == 2  # RUNNING and PAUSED count, QUEUED does not
    queued = second.seen["queued"]
    assert isinstance(queued, list) and len(queued) >= 2
    assert queued == ["e2", "e3", "e4"][: len(queued)]  # the oldest first
    assert second.seen["window"] == window
    assert second.seen["empty"] is None
    assert second.seen["undeclared"] == "refused"


class _Jobs:
    """A handler that starts three jobs for the execution of its message."""

    def missing_flows(self, executions: Iterable[Execution]) -> set[tuple[str, str, int]]:
        return set()

    def add_flows(self, rows: list[FlowRow]) -> None:
        pass

    def process(
        self, messages: list[QueueMessage], executions: dict[str, Execution], view: BatchView
    ) -> ExecutorOutcome:
        jobs = [Outgoing(key="e0", payload=f"job{i}".encode()) for i in range(3)]
        return ExecutorOutcome(worker_jobs=jobs)


async def test_jobs_claimed_in_the_batch_carry_their_stored_seqs(store) -> None:
    await store.create_executions([_execution(0, "RUNNING")])
    local = LocalBatch(claim_for="me", claim_limit=2, claimed_at=123.0)
    outcome = await store.executor_batch(100, _Jobs(), local)
    assert outcome is not None
    assert [j.payload for j in outcome.claimed_jobs] == [b"job0", b"job1"]
    assert await store.count_worker_claims("me") == 2
    assert [j.payload for j in await store.claim_worker_jobs("other", 10)] == [b"job2"]
    assert await store.release_worker_claims("me", [123.0]) == 2
    handed_out = await store.claim_worker_jobs("other", 10)
    assert handed_out == outcome.claimed_jobs  # the same rows: seqs, keys and payloads
