"""SIGTERM drains, a second signal forces, a task cut short runs again at the next start."""

from __future__ import annotations

import signal
import socket
import time

from .helpers import Daemon, StoreView, wait_until

NAP = """
id: nap
namespace: tests.drain
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT3S
    timeout: PT1M  # with a timeout a Sleep runs on the worker: these tests drain its job
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: woke up
"""


def start_napping(daemon: Daemon, view: StoreView) -> str:
    daemon.write_flow("nap.yml", NAP)
    daemon.start()
    execution_id = daemon.create_execution("tests.drain", "nap")
    wait_until(
        lambda: any("Waiting for" in m for m in view.log_messages(execution_id)),
        what="the Sleep task to start",
    )
    return execution_id


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return True
    return False


def test_sigterm_lets_the_running_task_finish(daemon: Daemon, view: StoreView) -> None:
    daemon.write_config(server__termination_grace="PT30S")
    execution_id = start_napping(daemon, view)
    daemon.signal(signal.SIGTERM)
    assert daemon.notify is not None
    daemon.notify.wait_for("STOPPING", "1")
    # HTTP stops accepting at once while the task still runs.
    wait_until(lambda: refuses_connections(daemon.port), what="the API to stop accepting")
    assert daemon.process is not None and daemon.process.poll() is None
    assert daemon.wait(timeout=20) == 0
    assert "draining: 1 task(s) running" in daemon.log()
    # The nap finished during the drain and its result is stored; the next task waits
    # in the queue for the next start (no new work is taken while draining).
    assert view.task_states(execution_id)["nap"] == "SUCCESS"
    assert view.execution_state(execution_id) == "RUNNING"

    daemon.start()
    wait_until(lambda: view.execution_state(execution_id) == "SUCCESS", timeout=30)
    messages = view.log_messages(execution_id)
    assert sum("Waiting for" in m for m in messages) == 1  # the nap did not run twice
    assert messages.count("woke up") == 1
    assert daemon.stop() == 0


def test_a_task_cut_by_the_grace_period_runs_again_at_next_start(
    daemon: Daemon, view: StoreView
) -> None:
    daemon.write_config(server__termination_grace="PT0.2S")
    execution_id = start_napping(daemon, view)
    stopped_at = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=20) == 0
    assert time.monotonic() - stopped_at < 2.5  # did not wait for the 3 s nap
    assert view.execution_state(execution_id) == "RUNNING"  # not FAILED
    assert "another daemon on this database runs them now" in daemon.log()

    daemon.start()
    wait_until(lambda: view.execution_state(execution_id) == "SUCCESS", timeout=30)
    assert view.log_messages(execution_id).count("woke up") == 1
    assert daemon.stop() == 0


def test_a_second_signal_exits_at_once(daemon: Daemon, view: StoreView) -> None:
    daemon.write_config(server__termination_grace="PT30S")
    execution_id = start_napping(daemon, view)
    daemon.signal(signal.SIGTERM)
    assert daemon.notify is not None
    daemon.notify.wait_for("STOPPING", "1")
    daemon.signal(signal.SIGINT)
    assert daemon.wait(timeout=5) == 130
    assert view.execution_state(execution_id) == "RUNNING"

    daemon.start()  # the nap runs again from its start
    wait_until(lambda: view.execution_state(execution_id) == "SUCCESS", timeout=30)
    assert daemon.stop() == 0


def test_a_taken_port_is_a_clear_error(daemon: Daemon) -> None:
    with socket.create_server(("127.0.0.1", daemon.port)):
        daemon.start(wait=False)
        assert daemon.wait() == 1
    assert f"cannot listen on 127.0.0.1:{daemon.port} (server.host, server.port)" in daemon.log()


def test_sigterm_ends_open_sse_follows_with_a_final_event(daemon: Daemon) -> None:
    import http.client
    import threading

    daemon.start()
    daemon.write_flow(
        "held.yml",
        "id: held\nnamespace: tests.sse\ntasks:\n"
        "  - id: hold\n    type: io.kestra.plugin.core.flow.Pause\n",
    )
    view = StoreView(daemon.db)
    wait_until(lambda: view.flow("tests.sse", "held"), what="the flow")
    execution_id = daemon.create_execution("tests.sse", "held")
    wait_until(lambda: view.execution_state(execution_id) == "PAUSED", what="the pause")
    conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=20)
    conn.request("GET", f"/api/v1/main/executions/{execution_id}/follow")
    response = conn.getresponse()
    assert response.status == 200
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(response.read()), daemon=True)
    reader.start()
    time.sleep(0.5)
    daemon.signal(signal.SIGTERM)
    reader.join(timeout=20)
    assert not reader.is_alive(), "the stream stayed open after SIGTERM"
    assert b"event: shutdown" in b"".join(received)
    assert daemon.wait() == 0
