"""A store that answers reads but cannot write (issue 11, "smaller, same spirit").

Before: with its SQLite file deleted the daemon answered 200s into an unlinked file, and
on a full disk `/health` said UP. Now `/health` proves a write (Store.ping_write) and
answers 503, and API writes answer a quick 503 with Retry-After. Real faults: an unlinked
file, and a real full file system (a small tmpfs, mounted when the test may).
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .helpers import Daemon, wait_until

FLOW = """
id: f
namespace: tests.faults
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: the-key
tasks:
  - id: a
    type: io.kestra.plugin.core.log.Log
    message: hi
"""


def _get(daemon: Daemon, path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(daemon.url + path, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _create(daemon: Daemon) -> tuple[int, dict, str | None]:
    request = urllib.request.Request(
        daemon.url + "/api/v1/main/executions/tests.faults/f",
        data=b"{}",
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read()), None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}"), exc.headers.get("Retry-After")


def _webhook(daemon: Daemon) -> tuple[int, dict, str | None]:
    request = urllib.request.Request(
        daemon.url + "/api/v1/main/executions/webhook/tests.faults/f/the-key",
        data=b"{}",
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read()), None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}"), exc.headers.get("Retry-After")


def test_a_deleted_sqlite_file_turns_health_red_and_writes_away(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path)
    daemon.write_flow("f.yml", FLOW)
    try:
        daemon.start()
        assert _create(daemon)[0] == 200
        assert _webhook(daemon)[0] == 200
        assert _get(daemon, "/health")[0] == 200
        os.unlink(daemon.db)

        status, body = _get(daemon, "/health")
        assert status == 503, body
        assert (body["status"], body["database"]) == ("DOWN", "DOWN")
        assert "was deleted while open" in body["message"], body
        status, body, retry = _create(daemon)
        assert (status, retry) == (503, "5"), body
        assert "was deleted while open" in body["message"]
        status, body, retry = _webhook(daemon)
        assert (status, retry) == (503, "5"), body
        assert "was deleted while open" in body["message"]
        # The loops pause with one WARNING; no traceback.
        log = daemon.wait_log("database unreachable")
        assert "Traceback" not in log
    finally:
        daemon.close()


def _mount_tmpfs(where: Path, size: str) -> str | None:
    """Mount a small tmpfs at `where`; the reason it cannot, or None."""
    where.mkdir()
    if os.geteuid() != 0:
        return "mounting a small file system needs root"
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    return None if done.returncode == 0 else f"cannot mount a tmpfs here: {done.stderr.strip()}"


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    with filler.open("wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass
    return filler


def test_a_full_disk_turns_health_red_and_writes_away_until_freed(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    problem = _mount_tmpfs(disk, "8m")
    if problem:
        pytest.skip(problem)
    daemon = Daemon(tmp_path, database__url=f"sqlite:///{disk}/kestrad.db")
    daemon.write_flow("f.yml", FLOW)
    try:
        daemon.start()
        assert _create(daemon)[0] == 200
        filler = _fill(disk)

        status, body = _get(daemon, "/health")
        assert status == 503, body
        assert "is full" in body["message"], body
        status, body, retry = _create(daemon)
        assert (status, retry) == (503, "5"), body

        filler.unlink()  # space again: health and writes come back by themselves
        wait_until(lambda: _get(daemon, "/health")[0] == 200, 15, "health UP again")
        status, created, _ = _create(daemon)
        assert status == 200, created
        wait_until(
            lambda: (
                _get(daemon, f"/api/v1/main/executions/{created['id']}")[1]["state"]["current"]
                == "SUCCESS"
            ),
            30,
            "the execution created after the disk was freed to end",
        )
    finally:
        daemon.close()
        subprocess.run(["umount", "-l", str(disk)], check=False)
