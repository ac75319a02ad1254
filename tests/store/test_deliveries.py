"""Delivery counts of worker jobs on every backend (issue 11, items 6 and 7): a claim adds
one, a dead instance's claims count as deaths when handed out again, a graceful stop's
do not, and a claim an outage lost is not counted at all."""

from __future__ import annotations

import pytest

from kestrad.model.execution import Execution
from kestrad.store.base import ExecutorOutcome, Outgoing

pytestmark = pytest.mark.anyio


class _OneJob:
    def __init__(self, key: str) -> None:
        self.key = key

    def missing_flows(self, executions):
        return set()

    def add_flows(self, rows):
        pass

    def process(self, messages, executions, view=None):
        return ExecutorOutcome(worker_jobs=[Outgoing(key=self.key, payload=b"job")])


async def _job(store) -> None:
    execution = Execution.new(namespace="ns", flow_id="f", flow_revision=1)
    await store.create_executions([execution])
    await store.executor_batch(10, _OneJob(execution.id))


async def test_a_graceful_stop_hands_jobs_back_without_a_death(store) -> None:
    await _job(store)
    await store.register_instance("a", "worker")
    [first] = await store.claim_worker_jobs("a", 10)
    assert (first.deliveries, first.deaths) == (1, 0)

    await store.stop_instance("a")  # SIGTERM past the grace: the job is given back
    await store.register_instance("b", "worker")
    [second] = await store.claim_worker_jobs("b", 10)
    assert (second.seq, second.deliveries, second.handed_back, second.deaths) == (
        first.seq,
        2,
        1,
        0,
    )


async def test_a_dead_instances_jobs_count_a_death_each_time(store) -> None:
    await _job(store)
    seen = []
    for name in ("a", "b", "c"):
        # Each instance claims the job and "dies": the next one's start finds it dead.
        await store.register_instance(name, "worker")
        [job] = await store.claim_worker_jobs(name, 10)
        seen.append((job.deliveries, job.deaths))
        released = await _mark_dead(store, name)
        # What the liveness pass logs: the job the dead instance had in flight.
        assert [(j.instance_id, j.seq, j.deliveries) for j in released.jobs] == [
            (name, job.seq, job.deliveries)
        ]
    assert seen == [(1, 0), (2, 1), (3, 2)]
    await store.register_instance("d", "worker")
    [job] = await store.claim_worker_jobs("d", 10)
    assert job.deaths == 3  # with worker.max_deliveries = 3, the worker refuses it


async def _mark_dead(store, name: str):
    """Liveness finds `name` silent (every heartbeat is older than "now + ∞")."""
    released = await store.disconnect_silent_instances("checker", float("inf"), 0.0)
    assert name in released.instances
    return released
