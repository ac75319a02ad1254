"""Chaos: two daemons on one PostgreSQL database under webhook load; one is frozen.

The victim is stopped with SIGSTOP (as a stalled VM or a long pause would) for longer
than `liveness.timeout`, while webhook requests keep arriving at the other daemon. The
survivor must keep completing executions during the freeze: nothing it needs may wait
on the frozen daemon (its log lock, its row locks, its advisory locks, its jobs). Once
the victim is found silent, it is fenced and its jobs are handed out. When it wakes
(SIGCONT) it must not commit anything (its lease is gone): it stops with a message. In
the end every execution the webhook created has ended SUCCESS, none ended twice, none is
lost. Completions per second before, during and after the freeze are printed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
import urllib.request
from pathlib import Path

import asyncpg

from kestrad.model.execution import decode_execution
from tests.conftest import postgres_database, require_postgres

from .helpers import ENDED_SQL, daemons_on, fetchval

RATE = 6.0  # webhook requests per second to each daemon, open loop
BEFORE = 4.0  # seconds of load before the freeze
FREEZE = 8.0  # seconds the victim stays stopped (liveness.timeout is 3 s)
AFTER = 4.0  # seconds of load after the victim was fenced
FLOW = """
id: hooked
namespace: tests.chaos
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: chaos-key
tasks:
  - id: before
    type: io.kestra.plugin.core.log.Log
    message: "before"
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT0.3S
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: "after"
"""
TERMINAL = {"SUCCESS", "FAILED", "KILLED", "WARNING", "CANCELLED"}
# The victim's backends (by its sockets' ports) in a transaction: what a freeze holds.
IN_TRANSACTION_SQL = """
SELECT count(*) FROM pg_stat_activity
WHERE client_port = ANY($1::int[]) AND xact_start IS NOT NULL AND pid <> pg_backend_pid()
"""


def database_ports(pid: int, server_port: int = 5432) -> list[int]:
    """The local ports of `pid`'s TCP connections to the database server (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == server_port:
                ports.append(int(local.rsplit(":", 1)[1], 16))
    return ports


class Load:
    """Open-loop webhook requests to one daemon, from a thread, until stopped."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self.url = url + "/api/v1/main/executions/webhook/tests.chaos/hooked/chaos-key"
        self.created: list[str] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        begun = time.monotonic()
        sent = 0
        while not self._stop.is_set():
            due = begun + sent / RATE
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sent += 1
            request = urllib.request.Request(self.url, data=b"{}", method="POST")
            request.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    self.created.append(json.loads(response.read())["id"])
            except Exception as exc:  # reported by the test, never silently dropped
                self.failures.append(repr(exc))


def test_a_frozen_daemon_stalls_nobody_and_no_execution_ends_twice(tmp_path: Path) -> None:
    require_postgres()
    asyncio.run(_scenario(tmp_path))


async def _ended(url: str) -> int:
    return int(await fetchval(url, ENDED_SQL))


async def _rate(url: str, seconds: float) -> float:
    """Executions ended per second over the next `seconds`."""
    first, begun = await _ended(url), time.monotonic()
    await asyncio.sleep(seconds)
    return (await _ended(url) - first) / (time.monotonic() - begun)


async def _scenario(tmp_path: Path) -> None:
    async with postgres_database() as url:
        survivor, victim = daemons_on(
            tmp_path,
            url,
            {"hooked.yml": FLOW},
            count=2,
            liveness__timeout="PT3S",
            liveness__heartbeat_interval="PT0.5S",
            worker__concurrency=16,
        )
        # Both daemons take requests: the victim then holds work of its own when frozen
        # (executions it created and advances, jobs its worker claimed).
        load = Load(survivor.url)
        victim_load = Load(victim.url, timeout=2.0)
        try:
            survivor.start()
            victim.start()
            assert victim.process is not None
            victim_id = await fetchval(
                url, "SELECT id FROM service_instance WHERE pid = $1", victim.process.pid
            )
            load.start()
            victim_load.start()
            before = await _rate(url, BEFORE)
            # Freeze the victim inside one of its transactions if it can be caught in one
            # within a few seconds (its row and advisory locks are then held for the whole
            # freeze: the worst case), else anywhere while it holds work.
            conn = await asyncpg.connect(url)
            try:
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    ports = database_ports(victim.process.pid)
                    if await conn.fetchval(IN_TRANSACTION_SQL, ports):
                        break
                os.kill(victim.process.pid, signal.SIGSTOP)
                frozen_at = time.monotonic()
                in_transaction = await conn.fetchval(IN_TRANSACTION_SQL, ports)
                held = await conn.fetchval(
                    "SELECT count(*) FROM queue_worker WHERE claimed_by = $1", victim_id
                )
            finally:
                await conn.close()
            during = await _rate(url, FREEZE)
            state = await fetchval(
                url, "SELECT state FROM service_instance WHERE id = $1", victim_id
            )
            assert state == "DISCONNECTED", f"the frozen instance is {state} after {FREEZE}s"
            still_held = await fetchval(
                url, "SELECT count(*) FROM queue_worker WHERE claimed_by = $1", victim_id
            )
            assert still_held == 0, f"{still_held} job(s) of the frozen instance not handed out"
            os.kill(victim.process.pid, signal.SIGCONT)
            # Awake, it finds itself fenced and stops without committing anything.
            status = victim.wait(timeout=30)
            woke_after = time.monotonic() - frozen_at
            after = await _rate(url, AFTER)
            load.stop()
            victim_load.stop()

            assert not load.failures, f"webhook requests failed: {load.failures[:3]}"
            # Requests the victim answered before its freeze were acknowledged too; those
            # in flight when it froze may or may not have been stored, and must end if so.
            created = list(load.created) + list(victim_load.created)
            total = int(await fetchval(url, "SELECT count(*) FROM executions"))
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and await _ended(url) < total:
                await asyncio.sleep(0.25)
            conn = await asyncpg.connect(url)
            try:
                rows = await conn.fetch("SELECT id, state, value FROM executions")
            finally:
                await conn.close()
            states: dict[str, int] = {}
            ended_twice = []
            for row in rows:
                states[row["state"]] = states.get(row["state"], 0) + 1
                histories = decode_execution(row["value"]).state.histories
                if sum(1 for h in histories if h.state in TERMINAL) != 1:
                    ended_twice.append(row["id"])
            print(
                f"\nchaos: {len(rows)} webhook executions ({len(victim_load.created)} answered"
                f" by the victim); completions/s before "
                f"{before:.1f}, during the {FREEZE:.0f}s freeze {during:.1f}, after "
                f"{after:.1f}; the victim held {held} job(s) and {in_transaction} open "
                f"transaction(s) when frozen, exited {status} "
                f"{woke_after:.1f}s after the freeze began; states {states}"
            )
            assert set(created) <= {row["id"] for row in rows}, "an acknowledged execution was lost"
            assert states == {"SUCCESS": len(rows)}, states
            assert not ended_twice, f"ended twice: {ended_twice[:5]}"
            assert status != 0 and "declared dead by another daemon" in victim.log()
            # The survivor kept completing while the victim was frozen.
            assert during > 0.3 * RATE, f"{during:.1f} completions/s during the freeze"
            assert victim_load.created, "the victim took no request before its freeze"
        finally:
            load.stop()
            victim_load.stop()
            if victim.process is not None and victim.process.poll() is None:
                os.kill(victim.process.pid, signal.SIGCONT)
            survivor.close()
            victim.close()
