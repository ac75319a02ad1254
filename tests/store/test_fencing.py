"""A hung daemon cannot stall liveness, and cannot come back to commit (store/lease.py).

A "frozen daemon" here is a real PostgreSQL session that opened a transaction, locked its
rows, and then stopped talking: exactly what a SIGSTOPped daemon leaves on the server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from kestrad.model.execution import Execution
from kestrad.store.base import ExecutorOutcome, Outgoing
from kestrad.store.factory import open_store
from kestrad.store.lease import Fenced, Lease, application_name
from kestrad.store.outage import is_unavailable
from kestrad.store.session import Session
from tests.conftest import postgres_database, require_postgres

pytestmark = pytest.mark.anyio


class _Publish:
    """Consumes the creation message and publishes one worker job."""

    def __init__(self, key: str) -> None:
        self.key = key

    def missing_flows(self, executions: Any) -> set[Any]:
        return set()

    def add_flows(self, rows: Any) -> None:
        pass

    def process(self, messages: Any, executions: Any, view: Any = None) -> ExecutorOutcome:
        return ExecutorOutcome(worker_jobs=[Outgoing(key=self.key, payload=b"job")])


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    require_postgres()
    async with postgres_database() as url:
        store = open_store(url)
        await store.migrate()
        await store.close()
        yield url


async def _job_claimed_by(store: Any, instance: str) -> Any:
    execution = Execution.new(namespace="ns", flow_id="f", flow_revision=1)
    await store.create_executions([execution])
    await store.executor_batch(10, _Publish(execution.id))
    await store.register_instance(instance, "worker")
    [job] = await store.claim_worker_jobs(instance, 1)
    return job


async def test_liveness_is_not_stalled_by_a_frozen_transaction(pg_url: str) -> None:
    """The frozen instance's open transaction locks its claimed job and its own row. The
    pass still answers at once: it disconnects the instance, ends its session (the frozen
    transaction is rolled back), and the job is handed out, at the latest one pass later.
    Before, the release waited on those locks for as long as the freeze lasted."""
    store = open_store(pg_url)
    await store.migrate()
    frozen = await asyncpg.connect(pg_url, server_settings={"application_name": "kestrad/old"})
    try:
        job = await _job_claimed_by(store, "old")
        await frozen.execute("BEGIN")
        await frozen.execute("SELECT 1 FROM queue_worker WHERE seq = $1 FOR UPDATE", job.seq)
        await frozen.execute("UPDATE service_instance SET pid = pid WHERE id = 'old'")
        silent_since = time.time() + 1  # every heartbeat so far is older

        # Its own row is locked by its transaction: skipped, not waited for.
        first = await asyncio.wait_for(
            store.disconnect_silent_instances("checker", silent_since, 0.0), 5
        )
        assert first.instances == []
        await frozen.execute("ROLLBACK")  # (the session's idle timeout would do this)
        await frozen.execute("BEGIN")
        await frozen.execute("SELECT 1 FROM queue_worker WHERE seq = $1 FOR UPDATE", job.seq)

        handout = await asyncio.wait_for(
            store.disconnect_silent_instances("checker", silent_since, 0.0), 5
        )
        assert handout.instances == ["old"]
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError)):
            await frozen.fetchval("SELECT 1")  # fenced: its session was ended
        released = handout.jobs
        for _ in range(50):  # the ended backend's locks go within moments
            if released:
                break
            await asyncio.sleep(0.1)
            released = (await store.disconnect_silent_instances("checker", silent_since, 0)).jobs
        assert [(j.instance_id, j.seq) for j in released] == [("old", job.seq)]
        assert [j.seq for j in await store.claim_worker_jobs("live", 10)] == [job.seq]
    finally:
        await frozen.close(timeout=1)
        await store.close()


async def test_a_heartbeat_never_revives_a_disconnected_instance(store: Any) -> None:
    await store.register_instance("slow", "worker")
    assert await store.heartbeat("slow") is True
    handout = await store.disconnect_silent_instances("checker", time.time() + 1, 0.0)
    assert handout.instances == ["slow"]
    assert await store.heartbeat("slow") is False
    assert [(i.id, i.state) for i in await store.list_instances()] == [("slow", "DISCONNECTED")]


async def test_a_fenced_instance_refuses_to_commit(pg_url: str) -> None:
    """A write with a stale lease confirms the instance row first: RUNNING, it commits and
    renews the lease; DISCONNECTED, nothing is committed and the lease is lost."""
    clock = Clock()
    lease = Lease("sleeper", 45.0, clock=clock)
    sleeper = open_store(pg_url, lease=lease)
    other = open_store(pg_url)
    await sleeper.migrate()
    await other.migrate()
    try:
        await sleeper.register_instance("sleeper", "executor,worker")
        clock.now += 40  # frozen for 40 s: stale, but nobody disconnected it
        first = Execution.new(namespace="ns", flow_id="f", flow_revision=1)
        await sleeper.create_executions([first])
        assert lease.fresh() and lease.renewed == 1040

        clock.now += 60  # frozen past the timeout: another daemon disconnects it
        handout = await other.disconnect_silent_instances("checker", time.time() + 1, 0.0)
        assert handout.instances == ["sleeper"]
        second = Execution.new(namespace="ns", flow_id="f", flow_revision=1)
        # Its sessions were ended by the fence: the first try meets a closed connection
        # (an outage to the daemon's loops, which try again), the next one the lost lease.
        with pytest.raises(Fenced, match="declared dead by another daemon"):
            for _ in range(3):
                try:
                    await sleeper.create_executions([second])
                except Exception as exc:
                    if not is_unavailable(exc):
                        raise
        assert await other.get_execution(first.id) is not None
        assert await other.get_execution(second.id) is None
        assert await sleeper.heartbeat("sleeper") is False
        with pytest.raises(Fenced):  # every later write is refused at once
            await sleeper.create_executions([second])
        assert await sleeper.get_execution(first.id) is not None  # reads still answer
    finally:
        await sleeper.close()
        await other.close()


async def test_connections_carry_the_instance_name_and_the_timeouts(pg_url: str) -> None:
    lease = Lease("node-1-abc", 45.0)
    session = Session(statement_timeout=60.0, idle_in_transaction_timeout=10.0)
    store = open_store(pg_url, lease=lease, session=session)
    await store.migrate()
    try:
        assert store.connector.pool is not None
        async with store.connector.pool.acquire() as conn:
            settings = await conn.fetchrow(
                "SELECT current_setting('application_name'), current_setting('statement_timeout'),"
                " current_setting('idle_in_transaction_session_timeout')"
            )
        assert tuple(settings) == ("kestrad/node-1-abc", "1min", "10s")
    finally:
        await store.close()
    assert application_name("h" * 80) == ("kestrad/" + "h" * 80)[:63]


async def test_an_idle_transaction_ends_by_the_session_timeout(pg_url: str) -> None:
    """What frees a frozen daemon's locks when nobody fences it (its role differs, or no
    other daemon runs): the server ends its session after the idle timeout."""
    session = Session(idle_in_transaction_timeout=0.2)
    store = open_store(pg_url, session=session)
    await store.migrate()
    try:
        assert store.connector.pool is not None
        async with store.connector.pool.acquire() as conn:
            await conn.execute("BEGIN")
            await asyncio.sleep(0.6)
            with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError)):
                await conn.fetchval("SELECT 1")
    finally:
        await store.close()
