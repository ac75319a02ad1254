"""The scheduler lease on both stores: one holder at a time, and a deposed holder's write
of fires is refused whole (the fencing that prevents double fires across daemons)."""

from __future__ import annotations

import anyio
import pytest

from kestrad.store.base import LeaseLost, SchedulerLease, TriggerRow

pytestmark = pytest.mark.anyio


def _row(next_fire_at: float) -> TriggerRow:
    return TriggerRow(
        namespace="tests.lease",
        flow_id="flow",
        trigger_id="every",
        next_fire_at=next_fire_at,
        fingerprint="f",
        updated=1.0,
    )


async def test_one_holder_until_it_expires_or_is_released(store) -> None:
    first = SchedulerLease(holder="daemon-a", seconds=0.5)
    second = SchedulerLease(holder="daemon-b", seconds=30)
    assert await store.scheduler_lease_holder() is None
    assert await store.claim_scheduler_lease(first)
    assert not await store.claim_scheduler_lease(second)
    assert await store.claim_scheduler_lease(first)  # a renewal
    holder = await store.scheduler_lease_holder()
    assert holder is not None and holder[0] == "daemon-a" and 0 < holder[1] <= 0.5

    await anyio.sleep(0.7)  # daemon-a stopped renewing: its lease expires
    assert await store.claim_scheduler_lease(second)
    assert not await store.claim_scheduler_lease(first)

    await store.release_scheduler_lease("daemon-a")  # not the holder: changes nothing
    assert (await store.scheduler_lease_holder() or ("",))[0] == "daemon-b"
    await store.release_scheduler_lease("daemon-b")
    assert await store.scheduler_lease_holder() is None
    assert await store.claim_scheduler_lease(first)


async def test_a_deposed_holder_writes_nothing(store) -> None:
    leader = SchedulerLease(holder="daemon-a", seconds=30)
    deposed = SchedulerLease(holder="daemon-b", seconds=30)
    assert await store.claim_scheduler_lease(leader)

    await store.save_trigger_states([_row(100.0)], [], lease=leader)
    with pytest.raises(LeaseLost):
        await store.save_trigger_states([_row(200.0)], [], lease=deposed)
    stored = await store.get_trigger("tests.lease", "flow", "every")
    assert stored is not None and stored.next_fire_at == 100.0

    await store.save_trigger_states([_row(300.0)], [])  # no lease: the only scheduler
    stored = await store.get_trigger("tests.lease", "flow", "every")
    assert stored is not None and stored.next_fire_at == 300.0
