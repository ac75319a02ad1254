"""The Store protocol, on every backend: flows, executions, queues, logs, instances."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from kestrad.model.execution import Execution
from kestrad.model.state import now_iso
from kestrad.store.base import NewLog, Outgoing
from kestrad.store.factory import open_store

pytestmark = pytest.mark.anyio


def _log(execution_id: str, message: str) -> NewLog:
    return NewLog(
        execution_id=execution_id,
        namespace="ns",
        flow_id="f",
        task_id="t",
        task_run_id="tr",
        attempt=1,
        level="INFO",
        timestamp=now_iso(),
        message=message,
    )


async def test_migrations_apply_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/twice.db"
    for _ in range(2):
        store = open_store(url)
        await store.migrate()
        await store.close()


async def test_flow_revisions_change_only_with_the_source(store) -> None:
    first = await store.save_flow("ns", "f", "id: f\n", "h1", "a.yml")
    same = await store.save_flow("ns", "f", "id: f\n", "h1", "a.yml")
    changed = await store.save_flow("ns", "f", "id: f\n# edit\n", "h2", "a.yml")
    assert (first.revision, same.revision, changed.revision) == (1, 1, 2)
    latest = await store.get_flow("ns", "f")
    assert latest is not None and latest.revision == 2
    old = await store.get_flow("ns", "f", 1)
    assert old is not None and old.source == "id: f\n"
    assert [row.revision for row in await store.list_flows()] == [2]


async def test_execution_round_trip_and_listing(store) -> None:
    execution = Execution.new(namespace="ns", flow_id="f", flow_revision=1, inputs={"a": [1, 2]})
    await store.create_executions([execution])
    loaded = await store.get_execution(execution.id)
    assert loaded == execution
    listed = await store.list_executions(namespace="ns", flow_id="f")
    assert [e.id for e in listed] == [execution.id]
    assert await store.list_executions(namespace="other") == []
    assert await store.get_execution("missing") is None


async def test_worker_jobs_are_claimed_once_and_completed_atomically(store) -> None:
    execution = Execution.new(namespace="ns", flow_id="f", flow_revision=1)
    await store.create_executions([execution])

    class Drain:
        """Consumes the creation message so the execution topic starts empty."""

        def missing_flows(self, executions):
            return set()

        def add_flows(self, rows):
            pass

        def process(self, messages, executions, view=None):
            from kestrad.store.base import ExecutorOutcome

            return ExecutorOutcome(
                worker_jobs=[Outgoing(key=execution.id, payload=b"job-1")],
            )

    outcome = await store.executor_batch(10, Drain())
    assert outcome is not None and outcome.consumed == 1
    assert await store.executor_batch(10, Drain()) is None

    await store.register_instance("w1", "worker")
    jobs = await store.claim_worker_jobs("w1", 10)
    assert [j.payload for j in jobs] == [b"job-1"]
    assert await store.claim_worker_jobs("w1", 10) == []

    stored = await store.complete_worker_jobs(
        [Outgoing(key=execution.id, payload=b"result")], [jobs[0].seq], [_log(execution.id, "hi")]
    )
    assert [e.message for e in stored] == ["hi"]
    assert await store.claim_worker_jobs("w1", 10) == []
    seen: list[bytes] = []

    class Collect(Drain):
        def process(self, messages, executions, view=None):
            from kestrad.store.base import ExecutorOutcome

            seen.extend(m.payload for m in messages)
            return ExecutorOutcome()

    await store.executor_batch(10, Collect())
    assert seen == [b"result"]


async def test_delayed_messages_wait_for_their_time(store) -> None:
    import time

    execution = Execution.new(namespace="ns", flow_id="f", flow_revision=1)
    await store.publish_events(
        [Outgoing(key=execution.id, payload=b"later", available_at=time.time() + 3600)]
    )

    class Never:
        def missing_flows(self, executions):
            return set()

        def add_flows(self, rows):
            pass

        def process(self, messages, executions, view=None):
            raise AssertionError("a delayed message was delivered early")

    assert await store.executor_batch(10, Never()) is None
    due = await store.next_event_due()
    assert due is not None and due > time.time() + 3000


async def test_log_sequence_is_monotonic(store) -> None:
    first = await store.append_logs([_log("e1", "a"), _log("e2", "b")])
    second = await store.append_logs([_log("e1", "c")])
    seqs = [e.seq for e in first + second]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert [e.message for e in await store.list_logs("e1")] == ["a", "c"]
    assert [e.message for e in await store.list_logs("e1", after=first[0].seq)] == ["c"]


async def test_claims_of_a_dead_process_are_handed_out_again(store, tmp_path: Path) -> None:
    execution = Execution.new(namespace="ns", flow_id="f", flow_revision=1)

    class Publish:
        def missing_flows(self, executions):
            return set()

        def add_flows(self, rows):
            pass

        def process(self, messages, executions, view=None):
            from kestrad.store.base import ExecutorOutcome

            return ExecutorOutcome(worker_jobs=[Outgoing(key=execution.id, payload=b"job")])

    await store.create_executions([execution])
    await store.executor_batch(10, Publish())
    # A real process registers, claims the job, and dies without finishing it.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(dead.stdout)
    await _register_dead_claimer(store, pid)
    assert await store.claim_worker_jobs("alive", 10) == []
    await store.register_instance("alive", "worker")
    assert [j.payload for j in await store.claim_worker_jobs("alive", 10)] == [b"job"]


async def _register_dead_claimer(store, pid: int) -> None:
    """Write, behind the Store protocol, a RUNNING instance `dead` (this host, process
    `pid`) that claims every worker job: what a crashed daemon leaves behind."""
    import socket
    import time

    host, now = socket.gethostname(), time.time()
    connector = store.connector
    if connector.dialect == "postgres":
        async with connector.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO service_instance (id, host, pid, roles, started, heartbeat, state) "
                "VALUES ('dead', $1, $2, 'worker', $3, $3, 'RUNNING')",
                host,
                pid,
                now,
            )
            await conn.execute("UPDATE queue_worker SET claimed_by = 'dead', claimed_at = $1", now)
        return
    conn = sqlite3.connect(connector.path, isolation_level=None)
    try:
        conn.execute(
            "INSERT INTO service_instance (id, host, pid, roles, started, heartbeat, state) "
            "VALUES (?, ?, ?, ?, ?, ?, 'RUNNING')",
            ("dead", host, pid, "worker", now, now),
        )
        conn.execute("UPDATE queue_worker SET claimed_by = 'dead', claimed_at = ?", (now,))
    finally:
        conn.close()
