"""Three daemons run the scheduler role on one PostgreSQL database: no trigger fires twice.

Every-second schedules fire while the lease-holding daemon is killed with SIGKILL and the
next leader is stopped cleanly. Each fire time must own exactly one execution, and with
`recoverMissedSchedules: ALL` the seconds of the take-overs are fired late, not lost: the
fire times of each trigger form an unbroken run of seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import asyncpg

from kestrad.model.execution import decode_execution
from tests.conftest import postgres_database, require_postgres

from .helpers import REPO, Daemon, daemons_on

FLOWS = 5
TICKER = """
id: ticker{index}
namespace: tests.leadership
tasks:
  - id: say
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ trigger.date }}}}"
triggers:
  - id: every-second
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "* * * * * *"
    withSeconds: true
    recoverMissedSchedules: ALL
"""


async def _leader(url: str, daemons: list[Daemon]) -> Daemon:
    """The daemon whose instance holds the scheduler lease (waits for one to)."""
    conn = await asyncpg.connect(url)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            pid = await conn.fetchval(
                "SELECT i.pid FROM scheduler_lease l JOIN service_instance i ON i.id = l.holder"
                " WHERE l.expires_at > extract(epoch FROM clock_timestamp())"
            )
            for daemon in daemons:
                if daemon.process is not None and daemon.process.pid == pid:
                    return daemon
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    raise AssertionError("no daemon took the scheduler lease")


async def _fire_times(url: str) -> dict[str, list[str]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT flow_id, value FROM executions")
    finally:
        await conn.close()
    fired: dict[str, list[str]] = {}
    for row in rows:
        execution = decode_execution(row["value"])
        assert execution.trigger is not None
        fired.setdefault(row["flow_id"], []).append(execution.trigger.variables["date"])
    return fired


def _instances(daemon: Daemon) -> list[str]:
    """`kestrad instances list` output lines (the lease holder's roles say scheduler*)."""
    command = [sys.executable, "-m", "kestrad", "instances", "list"]
    return subprocess.run(
        [*command, "--config", str(daemon.config_file)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=30,
        check=True,
    ).stdout.splitlines()


def test_three_schedulers_never_fire_twice(tmp_path: Path) -> None:
    require_postgres()
    asyncio.run(_scenario(tmp_path))


async def _scenario(tmp_path: Path) -> None:
    async with postgres_database() as url:
        flows = {f"ticker{i}.yml": TICKER.format(index=i) for i in range(FLOWS)}
        daemons = daemons_on(
            tmp_path, url, flows, scheduler__lease="PT3S", scheduler__monitor_interval="PT1S"
        )
        try:
            for daemon in daemons:
                daemon.start()
            await asyncio.sleep(4)
            first = await _leader(url, daemons)
            assert first.process is not None
            os.kill(first.process.pid, signal.SIGKILL)  # a crash: its lease must expire
            first.process.wait()
            survivors = [d for d in daemons if d is not first]
            second = await _leader(url, survivors)
            await asyncio.sleep(3)
            assert second.stop() == 0  # a clean stop: it hands the lease over
            third = await _leader(url, [d for d in survivors if d is not second])
            assert third.process is not None
            listed = _instances(third)
            marked = [line for line in listed if "scheduler*" in line]
            assert len(marked) == 1 and f" {third.process.pid} " in marked[0], listed
            await asyncio.sleep(3)
            third.stop()
            fired = await _fire_times(url)
        finally:
            for daemon in daemons:
                daemon.close()

    assert sorted(fired) == [f"ticker{i}" for i in range(FLOWS)]
    for flow_id, dates in fired.items():
        assert len(dates) == len(set(dates)), f"{flow_id}: a fire time has two executions"
        seconds = sorted(datetime.fromisoformat(d.replace("Z", "+00:00")) for d in dates)
        gaps = [(a, b) for a, b in itertools.pairwise(seconds) if (b - a).seconds != 1]
        assert not gaps, f"{flow_id}: fire times missing between {gaps}"
        # Each fire waits for the previous execution to end (the trigger's lock), so the
        # count depends on the machine's speed; three leaders' worth is the floor.
        assert len(seconds) >= 6, f"{flow_id}: only {len(seconds)} fires"
    logs = "".join(d.log() for d in daemons)
    assert logs.count("leads the scheduler") >= 3
    assert "standing by" in logs
