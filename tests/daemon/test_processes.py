"""`kestrad serve --processes N` (`server.processes`): one daemon as N real processes on
one port and one database, on SQLite and PostgreSQL.

The first process starts the others, speaks for them and never leaves them alone: work
sent to the port is done exactly once whichever process takes it, a flow changed in one
is used by all, a flow file that does not load is reported by all, a stop drains them all (exit 0), one of them dying stops the daemon
(exit 1, restart recovers), and the first one dying takes the others with it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.client
import json
import os
import re
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from .helpers import Daemon, kestrad, wait_until

pytestmark = pytest.mark.anyio

HOOK = "/api/v1/main/executions/webhook/tests.processes/{flow}/k"


def _marking_flow(marker: Path, flow_id: str = "mark", word: str = "one") -> str:
    """Each run appends `execution-id parent-pid word`: the parent of the shell is the
    daemon process whose worker ran the task."""
    return f"""
id: {flow_id}
namespace: tests.processes
tasks:
  - id: mark
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - 'echo "{{{{ execution.id }}}} $PPID {word}" >> {marker}'
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: k
"""


def _marks(marker: Path) -> list[tuple[str, int, str]]:
    if not marker.exists():
        return []
    out = []
    for line in marker.read_text().splitlines():
        execution_id, pid, word = line.split()
        out.append((execution_id, int(pid), word))
    return out


def _others(daemon: Daemon) -> list[int]:
    """The pids the first process reported starting."""
    found = re.search(r"started \d+ more process\(es\): ([\d, ]+)", daemon.log())
    assert found, daemon.log()
    return [int(pid) for pid in found.group(1).split(", ")]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):  # a zombie has no command line left
        return bool(Path(f"/proc/{pid}/cmdline").read_bytes())
    return False


def _fire(daemon: Daemon, flow_id: str, count: int) -> list[str]:
    """`count` webhook calls over 16 connections at once; the created executions' ids."""

    def call(_: int) -> str:
        request = urllib.request.Request(daemon.url + HOOK.format(flow=flow_id), method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())["id"]

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        return list(pool.map(call, range(count)))


def _started(tmp_path: Path, database_url: str, processes: int, **settings: object) -> Daemon:
    return Daemon(tmp_path, database__url=database_url, server__processes=processes, **settings)


def _wait_ready(daemon: Daemon, lines: int) -> None:
    """Until `lines` ready lines were logged, the first process's and the others' (the
    helper's own wait is for the first one's sd_notify READY alone)."""
    wait_until(lambda: daemon.log().count(" ready (") >= lines, 30, f"{lines} ready lines")


async def test_work_sent_to_the_port_runs_once_in_whichever_process_takes_it(
    tmp_path: Path, database_url: str
) -> None:
    marker = tmp_path / "marks.txt"
    daemon = _started(tmp_path, database_url, 3)
    daemon.write_flow("mark.yml", _marking_flow(marker))
    try:
        daemon.start()
        others = _others(daemon)
        _wait_ready(daemon, 3)
        created = _fire(daemon, "mark", 90)
        wait_until(lambda: len(_marks(marker)) >= 90, 60, "90 runs")
        time.sleep(0.5)  # a duplicate run would land here
        marks = _marks(marker)
        assert daemon.stop() == 0
    finally:
        daemon.close()

    assert len(others) == 2
    assert sorted(m[0] for m in marks) == sorted(created)  # each execution ran exactly once
    workers = {pid for _, pid, _ in marks}
    assert workers <= {daemon.process.pid, *others}
    assert len(workers) >= 2, workers  # the load was spread over processes
    assert not any(_alive(pid) for pid in others)


async def test_a_flow_changed_in_the_folder_is_used_by_every_process(
    tmp_path: Path, database_url: str
) -> None:
    marker = tmp_path / "marks.txt"
    daemon = _started(tmp_path, database_url, 3)
    daemon.write_flow("mark.yml", _marking_flow(marker, word="one"))
    try:
        daemon.start()
        _wait_ready(daemon, 3)
        _fire(daemon, "mark", 30)
        wait_until(lambda: len(_marks(marker)) >= 30, 60, "the first runs")
        daemon.write_flow("mark.yml", _marking_flow(marker, word="two"))
        daemon.wait_log("tests.processes/mark revision 2")
        time.sleep(1.5)  # the others poll for flow changes twice a second
        created = _fire(daemon, "mark", 60)
        wait_until(lambda: len(_marks(marker)) >= 90, 60, "the later runs")
        marks = {execution_id: word for execution_id, _, word in _marks(marker)}
        assert daemon.stop() == 0
    finally:
        daemon.close()

    assert {marks[execution_id] for execution_id in created} == {"two"}


def _problems_by_process(daemon: Daemon, count: int) -> list[tuple[str, list[dict]]]:
    """`count` answers of `GET flows/file-problems`, each on a fresh connection (16 at
    once), with the instance that gave it: the same connection first asks `/health`,
    which names its process."""

    def ask(_: int) -> tuple[str, list[dict]]:
        connection = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=30)
        try:
            connection.request("GET", "/health")
            instance = json.loads(connection.getresponse().read())["instance"]
            connection.request("GET", "/api/v1/main/flows/file-problems")
            response = connection.getresponse()
            assert response.status == 200
            return instance, json.loads(response.read())
        finally:
            connection.close()

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        return list(pool.map(ask, range(count)))


async def test_a_flow_file_that_does_not_load_is_reported_by_every_process(
    tmp_path: Path, database_url: str
) -> None:
    """Only the first process syncs the folder; the others answer from the store."""
    broken = _marking_flow(tmp_path / "marks.txt").replace(
        "io.kestra.plugin.scripts.shell.Commands", "io.kestra.nope.Missing"
    )
    daemon = _started(tmp_path, database_url, 3)
    path = str(daemon.write_flow("mark.yml", broken).resolve())
    try:
        daemon.start()
        _wait_ready(daemon, 3)
        answers: list[tuple[str, list[dict]]] = []
        deadline = time.monotonic() + 60
        while len({instance for instance, _ in answers}) < 2 and time.monotonic() < deadline:
            answers += _problems_by_process(daemon, 48)
        for instance, listed in answers:
            found = {f["file"]: f for f in listed}.get(path)
            assert found is not None, (instance, listed)
            assert found["flow"] is None  # it never loaded
            assert "io.kestra.nope.Missing" in found["problems"][0]["message"]

        daemon.write_flow("mark.yml", _marking_flow(tmp_path / "marks.txt"))
        daemon.wait_log("tests.processes/mark revision 1")
        wait_until(lambda: _problems_by_process(daemon, 1)[0][1] == [], 30, "the fix stored")
        fixed = _problems_by_process(daemon, 48)
        assert daemon.stop() == 0
    finally:
        daemon.close()

    instances = {instance for instance, _ in answers}
    assert len(instances) >= 2, instances  # answered by more than one process
    assert all(listed == [] for _, listed in fixed), fixed


async def test_a_stop_drains_every_process_and_exits_0(tmp_path: Path, database_url: str) -> None:
    marker = tmp_path / "marks.txt"
    started = tmp_path / "started.txt"
    slow = _marking_flow(marker).replace(
        "      - 'echo", f"      - 'echo x >> {started}'\n      - 'sleep 2'\n      - 'echo"
    )
    daemon = _started(tmp_path, database_url, 2)
    daemon.write_flow("mark.yml", slow)
    try:
        daemon.start()
        others = _others(daemon)
        _wait_ready(daemon, 2)
        created = _fire(daemon, "mark", 12)
        # Every task running (a job not started yet would wait for the next start).
        wait_until(
            lambda: started.exists() and len(started.read_text().split()) >= 12, 30, "12 runs"
        )
        daemon.signal(signal.SIGTERM)
        status = daemon.wait(60)
    finally:
        daemon.close()

    assert status == 0, daemon.log()
    # Tasks running at the stop were let finish, in both processes.
    assert sorted(m[0] for m in _marks(marker)) == sorted(created)
    assert daemon.log().count("stopping with the first process") == 1
    assert not any(_alive(pid) for pid in others)


async def test_one_process_killed_stops_the_daemon_and_a_restart_recovers(
    tmp_path: Path, database_url: str
) -> None:
    marker = tmp_path / "marks.txt"
    daemon = _started(tmp_path, database_url, 3)
    daemon.write_flow("mark.yml", _marking_flow(marker))
    try:
        daemon.start()
        others = _others(daemon)
        _wait_ready(daemon, 3)
        os.kill(others[0], signal.SIGKILL)
        status = daemon.wait(30)
        log = daemon.log()
        wait_until(lambda: not _alive(others[1]), 15, "the last process to stop")

        daemon.start()
        _wait_ready(daemon, 6)
        created = _fire(daemon, "mark", 20)
        wait_until(lambda: len(_marks(marker)) >= 20, 60, "runs after the restart")
        assert daemon.stop() == 0
    finally:
        daemon.close()

    assert status == 1
    assert f"process {others[0]} of this daemon ended (killed by SIGKILL)" in log, log
    assert sorted(m[0] for m in _marks(marker)) == sorted(created)


async def test_the_first_process_killed_takes_the_others_with_it(
    tmp_path: Path, database_url: str
) -> None:
    daemon = _started(tmp_path, database_url, 3)
    try:
        daemon.start()
        others = _others(daemon)
        assert all(_alive(pid) for pid in others)
        assert daemon.process is not None
        daemon.process.kill()
        daemon.process.wait(10)
        wait_until(lambda: not any(_alive(pid) for pid in others), 15, "the others to die")
    finally:
        daemon.close()


async def test_a_reload_reaches_every_process(tmp_path: Path, database_url: str) -> None:
    daemon = _started(tmp_path, database_url, 2)
    try:
        daemon.start()
        _wait_ready(daemon, 2)
        daemon.write_config(logging__level="DEBUG")
        daemon.signal(signal.SIGHUP)
        log = daemon.wait_log("reload: logging.level is now 'DEBUG'", count=2)
        assert daemon.stop() == 0
    finally:
        daemon.close()
    # The command line's choices (--roles, --processes) are not changes of the file.
    assert "server.roles changed" not in log and "server.processes changed" not in log, log


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--processes", "-1"], "--processes: must be 0 (one per CPU) or more"),
        (
            ["--processes", "2", "--roles", "scheduler"],
            "server.processes: more than one process needs a role besides scheduler",
        ),
        (["--listen-fd", "0"], "--listen-fd is kestrad's own, for the processes it starts"),
    ],
)
def test_impossible_process_counts_are_refused_at_start(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    daemon = Daemon(tmp_path)
    done = kestrad("serve", "--config", str(daemon.config_file), *arguments)
    assert done.returncode == 2
    assert message in done.stderr


def test_a_negative_configured_count_names_the_key(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path, server__processes=-3)
    done = kestrad("serve", "--config", str(daemon.config_file))
    assert done.returncode == 2
    assert "server.processes: must be 0 (one per CPU) or more" in done.stderr


def test_a_process_claiming_a_parent_it_does_not_have_leaves_at_once(tmp_path: Path) -> None:
    """`--child-of` naming another process than the real parent (a hand-typed command, or
    the first process gone before the child could ask to die with it): exit 1 at once,
    before opening anything."""
    daemon = Daemon(tmp_path)
    never_our_parent = "999999999"
    done = kestrad("serve", "--config", str(daemon.config_file), "--child-of", never_our_parent)
    assert done.returncode == 1
    assert not daemon.db.exists()
