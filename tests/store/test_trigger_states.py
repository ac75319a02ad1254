"""Trigger rows and Flow-trigger windows written in sets, on both stores: the scheduler's
upserts and deletes, and the executor batch's lock releases and window writes."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from kestrad.model.execution import Execution
from kestrad.store.base import (
    BatchLocks,
    BatchView,
    ExecutorOutcome,
    FlowRow,
    Outgoing,
    QueueMessage,
    TriggerRow,
    TriggerWindow,
    WindowKey,
)

pytestmark = pytest.mark.anyio

NS = "tests.triggers"


def _row(trigger_id: str, next_fire_at: float, execution_id: str | None = None) -> TriggerRow:
    return TriggerRow(
        namespace=NS,
        flow_id="flow",
        trigger_id=trigger_id,
        next_fire_at=next_fire_at,
        execution_id=execution_id,
        fingerprint="f",
        updated=1.0,
        last_fire_at=next_fire_at - 60,
    )


def _window(condition_id: str) -> TriggerWindow:
    return TriggerWindow(
        namespace=NS,
        flow_id="listener",
        trigger_id="t",
        condition_id=condition_id,
        start=0,
        end=4e9,
    )


WINDOWS = [_window("kept").key, _window("gone").key]


class _Ending:
    """A batch that reads the two windows, then releases trigger locks and writes (or
    deletes) windows."""

    def __init__(
        self,
        released: list[tuple[str, str, str, str]],
        windows: dict[WindowKey, TriggerWindow | None],
    ) -> None:
        self.released = released
        self.windows = windows
        self.seen: dict[WindowKey, TriggerWindow | None] = {}

    def batch_locks(self, executions: Iterable[Execution]) -> BatchLocks:
        return BatchLocks(windows=set(WINDOWS))

    def missing_flows(self, executions: Iterable[Execution]) -> set[tuple[str, str, int]]:
        return set()

    def add_flows(self, rows: list[FlowRow]) -> None:
        pass

    def process(
        self, messages: list[QueueMessage], executions: dict[str, Execution], view: BatchView
    ) -> ExecutorOutcome:
        self.seen = {key: view.trigger_window(*key) for key in WINDOWS}
        return ExecutorOutcome(released_triggers=self.released, trigger_windows=self.windows)


async def test_trigger_rows_are_upserted_released_and_deleted_in_sets(store) -> None:
    # The last state given for one trigger wins, as if written one after the other.
    await store.save_trigger_states(
        [_row("a", 100.0), _row("b", 200.0, "run-b"), _row("a", 150.0)], []
    )
    loaded = {r.trigger_id: r for r in await store.load_triggers()}
    assert (loaded["a"].next_fire_at, loaded["a"].last_fire_at) == (150.0, 90.0)
    assert loaded["b"].execution_id == "run-b"

    kept, gone = _window("kept"), _window("gone")
    batches = [
        _Ending([], {kept.key: kept, gone.key: gone}),
        _Ending(
            [(NS, "flow", "b", "run-b"), (NS, "flow", "a", "not-its-holder")], {gone.key: None}
        ),
        _Ending([], {}),
    ]
    for batch in batches:
        await store.publish_events([Outgoing(key="nobody", payload=b"x")])
        assert await store.executor_batch(10, batch) is not None
    assert batches[1].seen == {kept.key: kept, gone.key: gone}
    assert batches[2].seen == {kept.key: kept, gone.key: None}
    b = await store.get_trigger(NS, "flow", "b")
    assert b is not None and b.execution_id is None and b.updated > 1.0
    a = await store.get_trigger(NS, "flow", "a")
    assert a is not None and a.updated == 1.0  # held by nobody: left alone

    await store.save_trigger_states([], [], deleted=[(NS, "flow", "a"), (NS, "flow", "zz")])
    assert [r.trigger_id for r in await store.list_triggers(namespace=NS)] == ["b"]
