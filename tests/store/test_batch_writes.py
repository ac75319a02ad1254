"""How the executor's batch writes the executions created in this process, on both
stores: once, after the handler ran, as the handler left them (advanced or not), and
not at all when the batch fails."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from kestrad.model.execution import Execution
from kestrad.model.state import History
from kestrad.store.base import (
    BatchLocks,
    BatchView,
    ExecutorOutcome,
    FlowRow,
    LocalBatch,
    QueueMessage,
)
from kestrad.store.plans.batch import written_executions

pytestmark = pytest.mark.anyio

NS, FLOW = "tests.writes", "created"


def _created(i: int) -> Execution:
    execution = Execution.new(namespace=NS, flow_id=FLOW, flow_revision=1)
    execution.id = f"created{i}"
    return execution


class _Handler:
    """Starts the executions whose id is in `start` (CREATED → RUNNING); may fail."""

    def __init__(self, start: set[str], fail: bool = False) -> None:
        self.start = start
        self.fail = fail
        self.keys: list[str] = []

    def missing_flows(self, executions: Iterable[Execution]) -> set[tuple[str, str, int]]:
        return set()

    def add_flows(self, rows: list[FlowRow]) -> None:
        pass

    def batch_locks(self, executions: Iterable[Execution]) -> BatchLocks:
        return BatchLocks()

    def process(
        self, messages: list[QueueMessage], executions: dict[str, Execution], view: BatchView
    ) -> ExecutorOutcome:
        if self.fail:
            raise RuntimeError("the handler failed")
        self.keys = [m.key for m in messages]
        outcome = ExecutorOutcome()
        for execution_id in sorted(self.start):
            execution = executions[execution_id]
            execution.state.current = "RUNNING"
            execution.state.histories.append(
                History(state="RUNNING", date="2025-01-01T00:00:01.000000Z")
            )
            outcome.executions.append(execution)
        return outcome


async def test_created_executions_are_stored_as_the_batch_left_them(store) -> None:
    started, untouched = _created(1), _created(2)
    handler = _Handler(start={started.id})
    outcome = await store.executor_batch(10, handler, LocalBatch(created=[started, untouched]))

    assert outcome is not None
    assert sorted(handler.keys) == [started.id, untouched.id]  # each got its first turn
    stored = await store.get_execution(started.id)
    assert stored is not None and stored.state.current == "RUNNING"
    assert [h.state for h in stored.state.histories] == ["CREATED", "RUNNING"]
    kept = await store.get_execution(untouched.id)
    assert kept is not None and kept.state.current == "CREATED"


async def test_a_failed_batch_stores_none_of_its_created_executions(store) -> None:
    created = _created(3)
    with pytest.raises(RuntimeError):
        await store.executor_batch(10, _Handler(set(), fail=True), LocalBatch(created=[created]))
    assert await store.get_execution(created.id) is None


def test_each_execution_is_written_once_in_its_latest_form() -> None:
    created, other = _created(4), _created(5)
    spawned = _created(6)
    outcome = ExecutorOutcome(executions=[other, created], new_executions=[spawned])
    written = written_executions([created], outcome)
    assert [e.id for e in written] == [created.id, spawned.id, other.id]
    assert written[0] is created
