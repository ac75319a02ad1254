"""The process ledger (issue 11, item 7): the groups a dead daemon left running are killed
at the next start, and nothing else is. Real processes, real /proc; the daemon-level test
(kill -9 of `kestrad serve` mid-task) is in tests/daemon/test_worker_crashes.py."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from kestrad.tasks import process_ledger
from kestrad.tasks.process import die_with_daemon_prefix, run_command
from kestrad.tasks.process_ledger import TOKEN_VARIABLE, ProcessLedger, reap_dead

pytestmark = pytest.mark.anyio


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def _group(token: str | None) -> subprocess.Popen[bytes]:
    """A shell leading its own group, with a `sleep` child; `token` in its environment."""
    env = dict(os.environ)
    if token is not None:
        env[TOKEN_VARIABLE] = token
    return subprocess.Popen(["/bin/sh", "-c", "sleep 60 & wait"], env=env, start_new_session=True)


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


def _wait_children(pid: int) -> list[int]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if children := _children(pid):
            return children
        time.sleep(0.02)
    raise AssertionError("the shell never started its child")


def _dead_pid() -> int:
    finished = subprocess.Popen(["true"])
    finished.wait()
    return finished.pid


def _ghost(root: Path, name: str, pid: int) -> ProcessLedger:
    """A ledger folder as a daemon with `pid` left it."""
    ledger = ProcessLedger(root, name).open()
    owner = (ledger.folder / "owner").read_text().replace(f'"pid":{os.getpid()}', f'"pid":{pid}')
    (ledger.folder / "owner").write_text(owner.replace('"start_time":', '"start_time":1'))
    return ledger


def test_the_groups_of_a_dead_instance_are_killed_and_nothing_else(tmp_path: Path) -> None:
    root = tmp_path / "groups"
    dead = _ghost(root, "dead", _dead_pid())
    orphan = _group("t-orphan")
    stranger = _group(None)  # a recorded group number, but no token: not ours
    try:
        dead.record(orphan.pid, "t-orphan")
        dead.record(stranger.pid, "t-stranger")
        [orphan_sleep] = _wait_children(orphan.pid)
        [stranger_sleep] = _wait_children(stranger.pid)

        [reaped] = reap_dead(root, "me")

        assert (reaped.instance_id, reaped.pgid) == ("dead", orphan.pid)
        assert sorted(reaped.pids) == sorted([orphan.pid, orphan_sleep])
        orphan.wait(5)
        assert not _alive(orphan_sleep) or _wait_gone(orphan_sleep)
        assert _alive(stranger.pid) and _alive(stranger_sleep)
        assert not dead.folder.exists()
    finally:
        for process in (orphan, stranger):
            os.killpg(process.pid, signal.SIGKILL) if _alive(process.pid) else None
            process.wait(5)


def _wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + 5
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_live_instance_and_this_one_are_left_alone(tmp_path: Path) -> None:
    root = tmp_path / "groups"
    living = ProcessLedger(root, "living").open()  # this test process: alive
    mine = ProcessLedger(root, "me").open()
    group = _group("t-live")
    try:
        living.record(group.pid, "t-live")
        mine.record(group.pid, "t-live")
        assert reap_dead(root, "me") == []
        assert _alive(group.pid)
        assert living.folder.exists() and mine.folder.exists()
    finally:
        os.killpg(group.pid, signal.SIGKILL)
        group.wait(5)


async def test_run_command_records_its_group_while_it_runs(tmp_path: Path) -> None:
    ledger = ProcessLedger(tmp_path / "groups", "me").open()
    process_ledger.set_current(ledger)
    seen: list[str] = []
    try:
        async with anyio.create_task_group() as tg:

            async def run() -> None:
                await run_command(
                    ["/bin/sh", "-c", f'echo "${TOKEN_VARIABLE}"; sleep 0.5'],
                    cwd=str(tmp_path),
                    env=dict(os.environ),
                    on_line=lambda line, _: seen.append(line),
                )

            tg.start_soon(run)
            deadline = time.monotonic() + 5
            while not seen and time.monotonic() < deadline:
                await anyio.sleep(0.02)
            recorded = [p for p in ledger.folder.iterdir() if p.name != "owner"]
            assert len(recorded) == 1
            assert recorded[0].read_text() == seen[0]  # the token the command carries
    finally:
        process_ledger.set_current(None)
    assert [p.name for p in ledger.folder.iterdir()] == ["owner"]  # forgotten once stopped


@pytest.mark.skipif(not die_with_daemon_prefix(), reason="setpriv --pdeathsig not installed")
def test_a_command_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    """A parent process runs a command through run_command, then is SIGKILLed: the
    command's leader gets SIGKILL from the kernel (PR_SET_PDEATHSIG)."""
    pid_file = tmp_path / "pid"
    script = (
        "import anyio, os, sys\n"
        "from kestrad.tasks.process import run_command\n"
        "async def main():\n"
        f"    await run_command(['/bin/sh', '-c', 'echo $$ > {pid_file}; sleep 60'],"
        " cwd='.', env=dict(os.environ), on_line=lambda l, e: None)\n"
        "anyio.run(main)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    shell = 0
    try:
        deadline = time.monotonic() + 15
        while not (pid_file.exists() and pid_file.read_text().strip()):
            assert time.monotonic() < deadline, "the command never started"
            time.sleep(0.02)
        shell = int(pid_file.read_text())
        assert _alive(shell)
        parent.kill()
        parent.wait(5)
        assert _wait_gone(shell), "the command outlived the process that started it"
    finally:
        if parent.poll() is None:
            parent.kill()
        if shell:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(shell, signal.SIGKILL)  # its `sleep`, left to the ledger's reaper
