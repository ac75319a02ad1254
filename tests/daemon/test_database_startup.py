"""`kestrad serve` with its database away at start: it waits `database.startup_wait`, starts
when the database appears, or stops with one clear line (url without its password)."""

from __future__ import annotations

import asyncio
import select
import socket
import socketserver
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.conftest import POSTGRES_ADMIN_URL, postgres_database, require_postgres

from .helpers import Daemon, free_port


class _Forward(socketserver.BaseRequestHandler):
    """Pipes one client connection to the real PostgreSQL server."""

    target: tuple[str, int] = ("127.0.0.1", 5432)

    def handle(self) -> None:
        with socket.create_connection(self.target) as upstream:
            pair = {self.request: upstream, upstream: self.request}
            while True:
                ready, _, _ = select.select(list(pair), [], [], 1.0)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    pair[sock].sendall(data)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def test_unreachable_database_stops_with_one_clear_line(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    daemon = Daemon(
        tmp_path,
        database__url=f"postgresql://kestrad:s3cret@127.0.0.1:{port}/kestrad",
        database__startup_wait="PT2S",
    )
    try:
        daemon.start(wait=False)
        begun = time.monotonic()
        code = daemon.wait(30)
        waited = time.monotonic() - begun
    finally:
        daemon.close()
    log = daemon.log()
    assert code != 0
    assert waited >= 2.0, f"stopped after {waited:.1f}s, before startup_wait"
    assert f"waiting up to 2s for the database at postgresql://kestrad:***@127.0.0.1:{port}" in log
    assert "is unreachable (ConnectionRefusedError" in log
    assert "s3cret" not in log
    assert "Traceback" not in log, log


def test_daemon_starts_once_the_database_appears(tmp_path: Path) -> None:
    require_postgres()
    asyncio.run(_appears(tmp_path))


async def _appears(tmp_path: Path) -> None:
    async with postgres_database() as url:
        port = free_port()
        name = url.rsplit("/", 1)[1]
        admin = urlsplit(POSTGRES_ADMIN_URL)
        _Forward.target = (admin.hostname or "127.0.0.1", admin.port or 5432)
        daemon = Daemon(
            tmp_path,
            database__url=f"postgresql://postgres@127.0.0.1:{port}/{name}",
            database__startup_wait="PT30S",
        )
        server: _Server | None = None
        try:
            daemon.start(wait=False)
            # The daemon is waiting: the "database" is not there (however long its start).
            await asyncio.to_thread(
                daemon.wait_log, "waiting up to 30s for the database", timeout=30
            )
            assert daemon.process is not None and daemon.process.poll() is None
            server = _Server(("127.0.0.1", port), _Forward)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            daemon.wait_ready(30)
            health = daemon.request("GET", "/health")
            assert health["database"] == "UP", health
            assert "answers: starting" in daemon.log()
            assert daemon.stop() == 0
        finally:
            daemon.close()
            if server is not None:
                server.shutdown()
                server.server_close()
