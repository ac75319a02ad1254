"""`kestrad serve --roles`: a daemon runs only the loops it was given."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import time

from .helpers import REPO, Daemon, StoreView, wait_until
from .test_schedule import EVERY_SECOND, _executions


def test_worker_executor_daemon_serves_no_http_and_fires_no_schedule(
    daemon: Daemon, view: StoreView
) -> None:
    daemon.write_config(server__roles="worker,executor")
    daemon.start()
    daemon.write_flow("ticker.yml", EVERY_SECOND)
    wait_until(lambda: view.flow("tests.schedule", "ticker"), what="the flow synced")
    time.sleep(3)  # three would-be fires of the every-second schedule
    assert _executions(view) == []
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", daemon.port)) != 0, "something listens on the port"
    with sqlite3.connect(daemon.db) as conn:
        roles = conn.execute("SELECT roles FROM service_instance WHERE state = 'RUNNING'")
        assert [r[0] for r in roles] == ["executor,worker"]
    assert "kestrad ready (executor,worker): API on none" in daemon.log()
    listed = subprocess.run(
        [sys.executable, "-m", "kestrad", "instances", "list", "--config", str(daemon.config_file)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=30,
        check=True,
    ).stdout.splitlines()
    assert listed[0].split()[:3] == ["ID", "ROLES", "HOST"]
    assert listed[1].split()[1] == "executor,worker" and listed[1].split()[-1] == "RUNNING"
    assert daemon.stop() == 0


def test_unknown_role_is_refused(daemon: Daemon) -> None:
    command = [sys.executable, "-m", "kestrad", "serve", "--config", str(daemon.config_file)]
    done = subprocess.run(
        [*command, "--roles", "worker,cook"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=30,
    )
    assert done.returncode != 0
    assert "unknown role(s) cook" in done.stderr
