"""A real `kill -9` in the middle of an execution: after a restart it finishes, nothing twice."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kestrad.config import Config
from kestrad.model.state import parse_iso
from kestrad.runtime.engine import Engine

pytestmark = pytest.mark.anyio

FLOW = """
id: crash
namespace: tests.recovery
tasks:
  - id: before
    type: io.kestra.plugin.core.log.Log
    message: before the crash
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT3S
    timeout: PT1M  # a Sleep with a timeout runs on the worker: this test is about its job
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: after the crash
"""


def _wait_until_napping(db: Path, execution_id: str, timeout: float = 60.0) -> None:
    """Poll the database file until `nap` is running on the worker (its job is claimed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
            row = conn.execute(
                "SELECT value FROM executions WHERE id = ?", (execution_id,)
            ).fetchone()
            claimed = conn.execute(
                "SELECT count(*) FROM queue_worker WHERE claimed_by IS NOT NULL"
            ).fetchone()[0]
        if row and b'"taskId":"nap"' in row[0] and claimed:
            time.sleep(0.3)
            return
        time.sleep(0.05)
    raise AssertionError("the Sleep task never started")


async def test_an_execution_survives_kill_9_of_its_process(tmp_path: Path) -> None:
    victim, url, execution_id = _start_victim(tmp_path, "crash.yml", FLOW)
    _wait_until_napping(tmp_path / "state.db", execution_id)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)

    config = Config()
    config.database.url = url
    async with Engine.open(config=config) as engine:
        mid = await engine.get_execution(execution_id)
        assert mid is not None and mid.state.current == "RUNNING"
        final = await engine.wait_for(execution_id, timeout=60)
        logs = await engine.logs(execution_id)
    assert final.state.current == "SUCCESS"
    states = {run.task_id: run.state.current for run in final.task_run_list}
    assert states == {"before": "SUCCESS", "nap": "SUCCESS", "after": "SUCCESS"}
    messages = [entry.message for entry in logs]
    assert messages.count("before the crash") == 1
    assert messages.count("after the crash") == 1


TIMER_FLOW = """
id: timer
namespace: tests.recovery
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT4S
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: after the nap
"""


def _wait_until_timer(db: Path, execution_id: str, timeout: float = 60.0) -> float:
    """Poll the database file until `nap` is RUNNING as a delayed result in the queue (no
    worker job); return that message's due date."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
            due = conn.execute(
                "SELECT max(available_at) FROM queue_execution WHERE key = ?", (execution_id,)
            ).fetchone()[0]
            jobs = conn.execute("SELECT count(*) FROM queue_worker").fetchone()[0]
        if due:
            assert jobs == 0, "a timer Sleep must not be a worker job"
            return float(due)
        time.sleep(0.05)
    raise AssertionError("the Sleep never became a timer")


async def test_a_sleep_is_a_durable_timer_that_survives_kill_9(tmp_path: Path) -> None:
    """Issue 15 item 1: a Sleep holds no worker slot; it is a delayed message in the
    database, so a daemon killed mid-sleep ends it, at its due date, after a restart."""
    victim, url, execution_id = _start_victim(tmp_path, "timer.yml", TIMER_FLOW)
    due = _wait_until_timer(tmp_path / "state.db", execution_id)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)

    config = Config()
    config.database.url = url
    async with Engine.open(config=config) as engine:
        mid = await engine.get_execution(execution_id)
        assert mid is not None and mid.state.current == "RUNNING"
        final = await engine.wait_for(execution_id, timeout=60)
        logs = await engine.logs(execution_id)
    assert final.state.current == "SUCCESS"
    nap = next(run for run in final.task_run_list if run.task_id == "nap")
    # Its end is its due date: the restart neither started the wait again nor ended it early
    # (the next task started only once it was due).
    started = parse_iso(nap.state.histories[0].date).timestamp()
    assert due - started == pytest.approx(4.0, abs=0.01)
    assert [h.state for h in nap.state.histories] == ["CREATED", "RUNNING", "SUCCESS"]
    after = next(run for run in final.task_run_list if run.task_id == "after")
    assert parse_iso(after.state.histories[0].date).timestamp() >= due - 0.001
    messages = [entry.message for entry in logs]
    assert messages.count("Waiting for PT4S") == 1
    assert messages.count("after the nap") == 1


def _start_victim(tmp_path: Path, name: str, source: str) -> tuple[subprocess.Popen[str], str, str]:
    """The crash victim running the flow `source` on a SQLite file in `tmp_path`; returns
    it, the database url and the id of the execution it started."""
    flow_file = tmp_path / name
    flow_file.write_text(source)
    url = f"sqlite:///{tmp_path}/state.db"
    victim = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("crash_victim.py")), url, str(flow_file)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert victim.stdout is not None
    execution_id = victim.stdout.readline().strip()
    assert execution_id, "the victim did not start an execution"
    return victim, url, execution_id
