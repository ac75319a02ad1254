"""`kestrad executions resume|pause|kill|restart|replay` against a running daemon's database."""

from __future__ import annotations

import subprocess
import sys

from .helpers import Daemon, StoreView, wait_until

PAUSE = """
id: approval
namespace: tests.actions
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: "approved by {{ outputs.wait.onResume.who ?? 'nobody' }}"
"""
SLOW = """
id: slow
namespace: tests.actions
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT60S
"""
FAILING = """
id: failing
namespace: tests.actions
tasks:
  - id: boom
    type: io.kestra.plugin.core.execution.Fail
"""


def kestrad(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kestrad", *args, "--config", str(daemon.config_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_resume_kill_restart_and_replay_from_the_command_line(
    daemon: Daemon, view: StoreView
) -> None:
    daemon.start()
    for name, source in (("approval", PAUSE), ("slow", SLOW), ("failing", FAILING)):
        daemon.write_flow(f"{name}.yml", source)
        wait_until(lambda name=name: view.flow("tests.actions", name), what=f"flow {name}")

    paused = daemon.create_execution("tests.actions", "approval")
    wait_until(lambda: view.execution_state(paused) == "PAUSED", what="the pause")
    done = kestrad(daemon, "executions", "resume", paused, "-i", "who=ops")
    assert done.returncode == 0, done.stderr
    wait_until(lambda: view.execution_state(paused) == "SUCCESS", what="the resumed execution")
    assert "approved by ops" in view.log_messages(paused)

    slow = daemon.create_execution("tests.actions", "slow")
    wait_until(lambda: view.task_states(slow).get("nap") == "RUNNING", what="the sleep")
    paused_by_hand = kestrad(daemon, "executions", "pause", slow)
    assert paused_by_hand.returncode == 0, paused_by_hand.stderr
    wait_until(lambda: view.execution_state(slow) == "PAUSED", what="the operator's pause")
    assert view.task_states(slow).get("nap") == "RUNNING"  # what runs goes on
    assert kestrad(daemon, "executions", "kill", slow).returncode == 0
    wait_until(lambda: view.execution_state(slow) == "KILLED", what="the kill")
    not_running = kestrad(daemon, "executions", "pause", slow)
    assert not_running.returncode == 1 and "Only a running execution" in not_running.stderr
    again = kestrad(daemon, "executions", "kill", slow)
    assert again.returncode == 1 and "already ended" in again.stderr

    failed = daemon.create_execution("tests.actions", "failing")
    wait_until(lambda: view.execution_state(failed) == "FAILED", what="the failure")
    assert kestrad(daemon, "executions", "restart", failed).returncode == 0
    wait_until(lambda: "RESTARTED" in view.states_history(failed), what="the restart", timeout=20)
    wait_until(lambda: view.execution_state(failed) == "FAILED", what="the second failure")

    replayed = kestrad(daemon, "executions", "replay", failed)
    assert replayed.returncode == 0, replayed.stderr
    new_id = replayed.stdout.split()[0]
    wait_until(lambda: view.execution_state(new_id) == "FAILED", what="the replay")
    assert kestrad(daemon, "executions", "resume", "nope").returncode == 1
