"""Clients a production daemon meets: slow, idle, too many, or gone mid-request.

Each test talks to a real `kestrad serve` over raw sockets, so what is measured is what
uvicorn and the daemon do with a real connection, not what an HTTP library hides.
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request

from .helpers import Daemon, wait_until

HEALTH = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"


def _connect(daemon: Daemon) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
    sock.settimeout(10)
    return sock


def _status(daemon: Daemon, path: str) -> int:
    try:
        with urllib.request.urlopen(daemon.url + path, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _closed_within(sock: socket.socket, seconds: float) -> float:
    """Seconds until the server closed the connection (reads until end of file)."""
    started = time.monotonic()
    sock.settimeout(seconds)
    while True:
        if not sock.recv(65536):
            return time.monotonic() - started


def test_a_client_that_never_finishes_its_header_is_cut_off(daemon: Daemon) -> None:
    daemon.write_config(server__header_timeout="PT1S")
    daemon.start()
    silent = _connect(daemon)  # connects, sends nothing
    slow = _connect(daemon)  # starts a request, then trickles
    slow.sendall(b"GET /health HTTP/1.1\r\n")
    for _ in range(3):
        time.sleep(0.3)
        slow.sendall(b"X-A: b\r\n")
    assert _closed_within(silent, 5) < 5
    assert _closed_within(slow, 5) < 5
    # a client that sends its header on time is answered as usual
    fine = _connect(daemon)
    fine.sendall(HEALTH)
    assert fine.recv(65536).startswith(b"HTTP/1.1 200")
    fine.close()


def test_idle_keep_alive_connections_are_closed(daemon: Daemon) -> None:
    daemon.write_config(server__keep_alive_timeout="PT1S", server__header_timeout="PT30S")
    daemon.start()
    sock = _connect(daemon)
    sock.sendall(HEALTH)
    assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    assert _closed_within(sock, 5) < 5


def test_connections_beyond_the_limit_are_answered_503(daemon: Daemon) -> None:
    daemon.write_config(server__max_connections=4, server__header_timeout="PT30S")
    daemon.start()
    held = [_connect(daemon) for _ in range(4)]
    try:
        time.sleep(0.2)
        extra = _connect(daemon)
        extra.sendall(HEALTH)
        assert extra.recv(65536).startswith(b"HTTP/1.1 503")
        extra.close()
    finally:
        for sock in held:
            sock.close()

    def answered() -> bool:
        sock = _connect(daemon)
        try:
            sock.sendall(HEALTH)
            return sock.recv(65536).startswith(b"HTTP/1.1 200")
        finally:
            sock.close()

    wait_until(answered, 10, "the daemon answering once the held connections are gone")


def test_a_client_gone_mid_body_is_one_info_line_not_a_traceback(daemon: Daemon) -> None:
    daemon.write_flow(
        "hello.yml",
        "id: hello\nnamespace: company.team\ntasks:\n"
        "  - id: t\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n",
    )
    daemon.start()
    wait_until(lambda: _status(daemon, "/api/v1/main/flows/company.team/hello") == 200, 10)
    for _ in range(5):
        sock = _connect(daemon)
        sock.sendall(
            b"POST /api/v1/main/executions/company.team/hello HTTP/1.1\r\nHost: x\r\n"
            b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"a": 1'
        )
        time.sleep(0.1)
        sock.close()
    daemon.wait_log("client disconnected mid-request", count=5)
    log = daemon.log()
    assert "Traceback" not in log
    assert "ERROR" not in log
