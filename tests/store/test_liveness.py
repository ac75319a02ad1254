"""Liveness on every backend: a silent instance's worker jobs are handed out again."""

from __future__ import annotations

import time

import anyio
import pytest

from kestrad.config import LivenessConfig
from kestrad.model.execution import Execution
from kestrad.runtime.liveness import LivenessChecker
from kestrad.store.base import ExecutorOutcome, Outgoing

pytestmark = pytest.mark.anyio


class _Publish:
    """Consumes the creation message and publishes two worker jobs."""

    def __init__(self, key: str) -> None:
        self.key = key

    def missing_flows(self, executions):
        return set()

    def add_flows(self, rows):
        pass

    def process(self, messages, executions, view=None):
        jobs = [Outgoing(key=self.key, payload=p) for p in (b"job-old", b"job-live")]
        return ExecutorOutcome(worker_jobs=jobs)


async def test_silent_instance_claims_are_released_live_ones_kept(store) -> None:
    execution = Execution.new(namespace="ns", flow_id="f", flow_revision=1)
    await store.create_executions([execution])
    await store.executor_batch(10, _Publish(execution.id))

    await store.register_instance("old", "worker")
    [old_job] = await store.claim_worker_jobs("old", 1)
    await anyio.sleep(0.05)
    silent_since = time.time()
    await anyio.sleep(0.05)
    await store.register_instance("live", "worker")
    [live_job] = await store.claim_worker_jobs("live", 1)
    await store.heartbeat("live")

    released = await store.disconnect_silent_instances("checker", silent_since, 0.0)
    assert released.instances == ["old"]
    assert [(j.instance_id, j.seq, j.payload) for j in released.jobs] == [
        ("old", old_job.seq, b"job-old")
    ]
    assert await store.count_worker_claims("old") == 0
    assert await store.count_worker_claims("live") == 1
    states = {i.id: i.state for i in await store.list_instances()}
    assert states == {"old": "DISCONNECTED", "live": "RUNNING"}

    # The released job, payload unchanged, goes to a live worker: its second delivery.
    again = await store.claim_worker_jobs("live", 10)
    assert [(j.seq, j.payload) for j in again] == [(old_job.seq, old_job.payload)]
    assert (old_job.deliveries, again[0].deliveries, again[0].deaths) == (1, 2, 1)
    assert live_job.payload == b"job-live"

    # A second pass finds nothing new; a purge deletes only rows that are not RUNNING.
    assert (await store.disconnect_silent_instances("checker", silent_since, 0.0)).instances == []
    await store.disconnect_silent_instances("checker", silent_since, time.time() + 1)
    assert [i.id for i in await store.list_instances()] == ["live"]


async def test_checker_never_disconnects_its_own_instance(store) -> None:
    await store.register_instance("me", "executor,worker")
    checker = LivenessChecker(store, "me", LivenessConfig(timeout="PT0S"))
    assert await checker.check(now=time.time() + 60) == []
    assert [(i.id, i.state) for i in await store.list_instances()] == [("me", "RUNNING")]


async def test_claims_of_an_unanswered_attempt_are_handed_back(store) -> None:
    """A claim whose answer was lost in an outage: its jobs, and only its, go back."""
    execution = Execution.new(namespace="ns", flow_id="f", flow_revision=1)
    await store.create_executions([execution])
    await store.executor_batch(10, _Publish(execution.id))
    await store.register_instance("w", "worker")

    first, second = time.time() + 1.0, time.time() + 1.5  # stamps of two attempts
    [held] = await store.claim_worker_jobs("w", 1, at=first)  # its answer arrived
    [lost] = await store.claim_worker_jobs("w", 1, at=second)  # say its answer was lost
    assert await store.release_worker_claims("w", [second, second + 1]) == 1
    assert await store.release_worker_claims("other", [first]) == 0
    assert await store.count_worker_claims("w") == 1

    again = await store.claim_worker_jobs("w", 10)
    assert [(j.seq, j.payload) for j in again] == [(lost.seq, lost.payload)]
    assert held.seq != lost.seq
    assert again[0].deliveries == 1  # the lost claim is not counted as a delivery
