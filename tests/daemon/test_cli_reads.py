"""`kestrad logs` and `kestrad executions list` against the daemon's database."""

from __future__ import annotations

import os
import subprocess
import sys

from .helpers import REPO, Daemon, StoreView, kestrad, wait_until

CHATTY = """
id: chatty
namespace: tests.cli
tasks:
  - id: talk
    type: io.kestra.plugin.core.log.Log
    message: "{{ inputs.word ?? 'plain' }}"
  - id: warn
    type: io.kestra.plugin.core.log.Log
    level: WARN
    message: careful
"""


def test_logs_and_executions_list(daemon: Daemon, view: StoreView) -> None:
    daemon.write_flow("chatty.yml", CHATTY)
    daemon.start()
    config = str(daemon.config_file)
    follower_out = daemon.tmp / "follow.out"
    with follower_out.open("w") as out:
        follower = subprocess.Popen(
            [sys.executable, "-m", "kestrad", "logs", "-f", "--config", config],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    try:
        execution_id = daemon.create_execution("tests.cli", "chatty")
        wait_until(lambda: view.execution_state(execution_id) == "SUCCESS")
        wait_until(lambda: "careful" in follower_out.read_text(), what="the followed line")
    finally:
        follower.terminate()
        follower.wait(10)
    followed = follower_out.read_text()
    assert f"tests.cli/chatty {execution_id} talk plain" in followed

    result = kestrad("logs", execution_id, "--config", config)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].split(" ", 2)[1] == "INFO"
    assert lines[0].endswith(f"tests.cli/chatty {execution_id} talk plain")

    warnings = kestrad("logs", "--flow", "tests.cli/chatty", "--level", "WARN", "--config", config)
    assert warnings.stdout.splitlines() == [lines[1]]

    listed = kestrad(
        "executions", "list", "--flow", "tests.cli/chatty", "--state", "SUCCESS", "--config", config
    )
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith(f"{execution_id} tests.cli/chatty SUCCESS")
    none = kestrad("executions", "list", "--state", "FAILED", "--config", config)
    assert none.stdout == ""
    assert daemon.stop() == 0


def test_logs_without_a_database(daemon: Daemon) -> None:
    result = kestrad("logs", "--config", str(daemon.config_file))
    assert result.returncode == 2
    assert "no database at" in result.stderr
