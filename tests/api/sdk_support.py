"""A live `kestrad serve` subprocess driven through Kestra's own Python SDK, `kestrapy`.

`LiveDaemon` starts `python -m kestrad serve` on a temporary folder and a free port, over a
SQLite file or a PostgreSQL database of its own, and waits until `/health` answers. The
SDK then talks to it exactly as it talks to Kestra: over HTTP, under the `main` tenant.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[2]
TENANT = "main"
T = TypeVar("T")

ADMIN_URL = os.environ.get(
    "KESTRAD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def wait_until(check: Callable[[], T], timeout: float = 20.0, what: str = "condition") -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


class LiveDaemon:
    """One daemon over `backend` ("sqlite" or "postgres"); `flows` is its watched folder."""

    def __init__(self, tmp: Path, backend: str, folder_flows: dict[str, str] | None = None):
        self.tmp = tmp
        self.backend = backend
        self.flows = tmp / "flows"
        self.flows.mkdir(exist_ok=True)
        for name, source in (folder_flows or {}).items():
            (self.flows / name).write_text(source)
        self.port = _free_port()
        self.database: str | None = None
        if backend == "postgres":
            self.database = f"kestrad_sdk_{uuid.uuid4().hex[:10]}"
            asyncio.run(_admin(f'CREATE DATABASE "{self.database}"'))
            url = ADMIN_URL.rsplit("/", 1)[0] + "/" + self.database
        else:
            url = f"sqlite:///{tmp / 'kestrad.db'}"
        config = {
            "database": {"url": url},
            "flows": {"path": str(self.flows), "rescan_interval": None},
            "server": {"host": "127.0.0.1", "port": self.port},
            "storage": {"path": str(tmp / "storage")},
            "liveness": {"heartbeat_interval": "PT1S"},
        }
        self.config_file = tmp / "kestrad.yml"
        self.config_file.write_text(json.dumps(config))  # JSON is YAML
        self.stderr_file = tmp / "stderr.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveDaemon:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        env.pop("NOTIFY_SOCKET", None)
        with self.stderr_file.open("ab") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kestrad", "serve", "--config", str(self.config_file)],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=env,
                cwd=self.tmp,
            )
        wait_until(self._healthy, 60.0, f"kestrad on port {self.port}:\n{self.log()}")
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"kestrad exited {self.process.returncode}:\n{self.log()}")
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def log(self) -> str:
        return self.stderr_file.read_text(errors="replace") if self.stderr_file.exists() else ""

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.database is not None:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))

    def client(self) -> Any:
        from kestrapy import KestraClient

        return KestraClient(host=self.url, timeout=30)

    def http(self, method: str, path: str, body: bytes | None = None, **headers: str) -> Any:
        """A raw request (for what the SDK does not send): (status, parsed JSON or text)."""
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, data = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, data = exc.code, exc.read()
        try:
            return status, json.loads(data) if data else None
        except ValueError:
            return status, data.decode(errors="replace")
