"""sd_notify datagrams, read from a real AF_UNIX socket bound by the test."""

from __future__ import annotations

import os
import time

from .helpers import Daemon, NotifySocket, wait_until


def test_ready_status_and_stopping(daemon: Daemon) -> None:
    daemon.write_flow(
        "one.yml",
        "id: one\nnamespace: tests.notify\ntasks:\n"
        "  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n",
    )
    daemon.start()
    assert daemon.notify is not None
    _, ready = daemon.notify.wait_for("READY", "1")
    assert "1 flow(s)" in ready["STATUS"] and f"127.0.0.1:{daemon.port}" in ready["STATUS"]
    assert daemon.notify.count("WATCHDOG") == 0  # no WATCHDOG_USEC, no pings
    assert daemon.stop() == 0
    daemon.notify.wait_for("STOPPING", "1")


def test_watchdog_pings_at_half_the_interval(daemon: Daemon) -> None:
    daemon.start(env={"WATCHDOG_USEC": "200000"})  # 0.2 s: a ping every 0.1 s
    assert daemon.notify is not None
    wait_until(lambda: daemon.notify.count("WATCHDOG") >= 5, timeout=5, what="5 pings")
    assert daemon.stop() == 0


def test_no_watchdog_for_another_process(daemon: Daemon) -> None:
    daemon.start(env={"WATCHDOG_USEC": "200000", "WATCHDOG_PID": str(os.getpid())})
    time.sleep(0.6)  # three intervals: long enough for pings that must not come
    assert daemon.notify is not None
    assert daemon.notify.count("WATCHDOG") == 0
    assert daemon.stop() == 0


def test_abstract_socket_names(daemon: Daemon) -> None:
    daemon.notify = NotifySocket(abstract=f"kestrad-test-{os.getpid()}-{time.monotonic_ns()}")
    daemon.start()  # waits for READY=1 on the abstract socket
    assert daemon.stop() == 0
