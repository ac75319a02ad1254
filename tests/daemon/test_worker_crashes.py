"""A real `kill -9` of `kestrad serve` while a shell task runs, on SQLite and PostgreSQL.

- A redelivered job is a new attempt: the attempt list shows the lost one RESUBMITTED, and
  the task sees `taskrun.attemptsCount` (issue 11, item 7).
- A job whose worker died `worker.max_deliveries` times fails its task run with a clear
  error instead of killing every next daemon (issue 11, item 6), and each start logs which
  job the dead instance had in flight.

Kestra resubmits the task runs of a dead worker as a new attempt (its `WorkerTaskResult`
with the attempt RESUBMITTED; `io.kestra.core.runners.WorkerTest#workerRecovery` and the
JDBC `JdbcExecutorTest`s kill a worker mid-task and expect the task run to finish).
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest

from tests.conftest import postgres_database, require_postgres

from .helpers import Daemon, daemons_on, wait_until

pytestmark = pytest.mark.anyio


def _flow(marker: Path, *, stop_after_first: bool) -> str:
    # Each run appends "attemptsCount pid" to the marker, then sleeps (the daemon is
    # killed meanwhile); with `stop_after_first`, a redelivered run ends at once.
    wait = "[ {{ taskrun.attemptsCount }} -gt 0 ] || sleep 60" if stop_after_first else "sleep 60"
    return f"""
id: victim
namespace: tests.crashes
tasks:
  - id: work
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - 'echo "{{{{ taskrun.attemptsCount }}}} $$" >> {marker}'
      - '{wait}'
"""


def _runs(marker: Path) -> list[tuple[int, int]]:
    """(attemptsCount, shell pid) per run of the task so far."""
    if not marker.exists():
        return []
    return [tuple(int(v) for v in line.split()) for line in marker.read_text().splitlines()]


def _kill_leftovers(marker: Path) -> None:
    """The shells the killed daemons left behind (their `sleep` children die on their own
    once these are gone... or time out: this is test hygiene, not what is tested)."""
    for _, pid in _runs(marker):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _daemon(tmp_path: Path, database_url: str, flow: str, **settings: object) -> Daemon:
    daemon = Daemon(tmp_path, database__url=database_url, **settings)
    daemon.write_flow("victim.yml", flow)
    return daemon


def _kill_when_run(daemon: Daemon, marker: Path, runs: int) -> None:
    """SIGKILL the daemon once the task has started `runs` times."""
    wait_until(lambda: len(_runs(marker)) >= runs, 30, f"run {runs} of the task")
    assert daemon.process is not None
    daemon.process.kill()
    daemon.process.wait(10)


def _execution(daemon: Daemon, execution_id: str) -> dict:
    return daemon.request("GET", f"/api/v1/main/executions/{execution_id}")


def _ended(daemon: Daemon, execution_id: str) -> dict:
    def check() -> dict | None:
        found = _execution(daemon, execution_id)
        return found if found["state"]["current"] in ("SUCCESS", "FAILED", "WARNING") else None

    return wait_until(check, 45, "the execution to end")


async def test_a_redelivered_job_is_a_new_attempt(tmp_path: Path, database_url: str) -> None:
    marker = tmp_path / "runs.txt"
    daemon = _daemon(tmp_path, database_url, _flow(marker, stop_after_first=True))
    try:
        daemon.start()
        execution_id = daemon.create_execution("tests.crashes", "victim")
        _kill_when_run(daemon, marker, 1)
        daemon.start()
        final = _ended(daemon, execution_id)
        log = daemon.log()
    finally:
        daemon.close()
        _kill_leftovers(marker)

    assert [count for count, _ in _runs(marker)] == [0, 1]  # the task saw its attempt count
    assert final["state"]["current"] == "SUCCESS"
    [run] = final["taskRunList"]
    assert [a["state"]["current"] for a in run["attempts"]] == ["RESUBMITTED", "SUCCESS"]
    assert run["state"]["current"] == "SUCCESS"
    # The start after the crash names the job the dead instance held.
    assert "in flight" in log and "task work, attempt 1" in log, log


async def test_a_job_that_kills_its_worker_fails_after_max_deliveries(
    tmp_path: Path, database_url: str
) -> None:
    marker = tmp_path / "runs.txt"
    flow = _flow(marker, stop_after_first=False)
    daemon = _daemon(tmp_path, database_url, flow, worker__max_deliveries=2)
    try:
        daemon.start()
        execution_id = daemon.create_execution("tests.crashes", "victim")
        _kill_when_run(daemon, marker, 1)
        daemon.start()
        _kill_when_run(daemon, marker, 2)
        daemon.start()  # the job killed two workers: this one refuses it
        final = _ended(daemon, execution_id)
        messages = [
            line["message"] for line in daemon.request("GET", f"/api/v1/main/logs/{execution_id}")
        ]
        log = daemon.log()
    finally:
        daemon.close()
        _kill_leftovers(marker)

    assert len(_runs(marker)) == 2  # never run a third time
    assert final["state"]["current"] == "FAILED"
    [run] = final["taskRunList"]
    states = [a["state"]["current"] for a in run["attempts"]]
    assert states == ["RESUBMITTED", "RESUBMITTED", "FAILED"]
    reason = "its worker died 2 times while running it (worker.max_deliveries = 2)"
    assert any(reason in m for m in messages), messages
    assert reason in log
    assert log.count("in flight") >= 2, log  # each start named the job it found held


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    fields = handle.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


async def test_the_first_runs_processes_die_with_the_daemon(
    tmp_path: Path, database_url: str
) -> None:
    """Before: the first run's `sleep` outlived a kill -9 and its shell did its side effect
    next to the second run's. Now its shell dies with the daemon (PR_SET_PDEATHSIG) and the
    next start kills the `sleep` it left (the process ledger)."""
    marker, effects = tmp_path / "runs.txt", tmp_path / "effects.txt"
    flow = f"""
id: victim
namespace: tests.crashes
tasks:
  - id: work
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - 'echo "{{{{ taskrun.attemptsCount }}}} $$" >> {marker}'
      - '[ {{{{ taskrun.attemptsCount }}}} -gt 0 ] || sleep 30'
      - 'echo "{{{{ taskrun.attemptsCount }}}}" >> {effects}'
"""
    daemon = _daemon(tmp_path, database_url, flow)
    try:
        daemon.start()
        execution_id = daemon.create_execution("tests.crashes", "victim")
        wait_until(lambda: _runs(marker), 30, "the first run")
        [(_, shell)] = _runs(marker)
        [sleep] = wait_until(lambda: _children(shell), 10, "the shell's sleep")
        _kill_when_run(daemon, marker, 1)
        assert wait_until(lambda: not _alive(shell), 10, "the shell to die with the daemon")
        daemon.start()  # its start reaps what the dead instance left
        assert not _alive(sleep), "the first run's sleep outlived the next start"
        final = _ended(daemon, execution_id)
        log = daemon.log()
    finally:
        daemon.close()
        _kill_leftovers(marker)

    assert final["state"]["current"] == "SUCCESS"
    assert effects.read_text().split() == ["1"]  # only the second run did its side effect
    assert f"process group {shell} running: killed" in log, log


async def test_another_daemon_resubmits_a_dead_ones_job(tmp_path: Path) -> None:
    """PostgreSQL, two daemons: the one running the task dies; the other's liveness check
    hands the job out (logging what the dead one held) and runs it as attempt 2."""
    require_postgres()
    marker = tmp_path / "runs.txt"
    flows = {"victim.yml": _flow(marker, stop_after_first=True)}
    async with postgres_database() as url:
        first, second = daemons_on(
            tmp_path,
            url,
            flows,
            count=2,
            liveness__timeout="PT2S",
            liveness__heartbeat_interval="PT0.5S",
        )
        try:
            first.start()
            execution_id = first.create_execution("tests.crashes", "victim")
            wait_until(lambda: _runs(marker), 30, "the first run")
            second.start()
            _kill_when_run(first, marker, 1)
            final = _ended(second, execution_id)
            log = second.log()
        finally:
            first.close()
            second.close()
            _kill_leftovers(marker)

    assert [count for count, _ in _runs(marker)] == [0, 1]
    [run] = final["taskRunList"]
    assert [a["state"]["current"] for a in run["attempts"]] == ["RESUBMITTED", "SUCCESS"]
    assert "was silent with worker job" in log and "task work, attempt 1" in log, log
