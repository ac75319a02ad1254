"""A real `kestrad serve` with the web UI, and Debian's Chromium driven by Playwright.

The daemon runs as a subprocess over a flows folder of its own, on SQLite or on a fresh
PostgreSQL database, with basic auth on: every page a test opens goes through it. Without
Chromium or Playwright the tests skip with a message locally and fail in CI (CI=true).
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
from base64 import b64encode
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("KESTRAD_CHROMIUM", "/usr/bin/chromium")
# The tests' own folder (ignored by git); the README's copies in docs/screenshots are
# refreshed on purpose with KESTRAD_SCREENSHOTS=docs/screenshots, not by every test run.
SCREENSHOTS = Path(os.environ.get("KESTRAD_SCREENSHOTS", REPO / "build" / "screenshots"))
USER, PASSWORD = "admin@kestra.io", "Secret-123"
AUTH = "Basic " + b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_browser() -> None:
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "Playwright for Python is not installed (pip install -e '.[dev]')"
    if problem is None and not os.access(CHROMIUM, os.X_OK):
        problem = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if problem is not None:
        if in_ci():
            pytest.fail(f"browser tests need a browser: {problem}")
        pytest.skip(f"browser tests skipped: {problem}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """One `kestrad serve` subprocess; `url` once ready."""

    def __init__(self, tmp: Path, database_url: str, flows: dict[str, str], **server: Any) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (tmp / "flows").mkdir(parents=True, exist_ok=True)
        for name, text in flows.items():
            (tmp / "flows" / f"{name}.yml").write_text(text)
        config = {
            "database": {"url": database_url},
            "flows": {"path": str(tmp / "flows"), "rescan_interval": None},
            "server": {
                "host": "127.0.0.1",
                "port": self.port,
                "basic_auth": {"username": USER, "password": PASSWORD},
                **server,
            },
            "storage": {"path": str(tmp / "storage")},
            "liveness": {"heartbeat_interval": "PT1S"},
        }
        (tmp / "kestrad.yml").write_text(json.dumps(config))
        self.log_file = tmp / "stderr.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        env.pop("NOTIFY_SOCKET", None)
        with self.log_file.open("ab") as stderr:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "kestrad",
                    "serve",
                    "--config",
                    str(self.tmp / "kestrad.yml"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=env,
                cwd=self.tmp,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"kestrad exited:\n{self.log()}")
            try:
                urllib.request.urlopen(self.url + "/health", timeout=1).close()
                return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise AssertionError(f"kestrad not ready:\n{self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """A call to the API with credentials; JSON in, JSON out."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + "/api/v1/main" + path,
            data=data,
            method=method,
            headers={"Authorization": AUTH, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def api_yaml(self, method: str, path: str, source: str) -> Any:
        request = urllib.request.Request(
            self.url + "/api/v1/main" + path,
            data=source.encode(),
            method=method,
            headers={"Authorization": AUTH, "Content-Type": "application/x-yaml"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def wait_state(self, execution_id: str, states: set[str], timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            execution = self.api("GET", f"/executions/{execution_id}")
            if execution["state"]["current"] in states:
                return execution
            if time.monotonic() > deadline:
                raise AssertionError(f"{execution_id} still {execution['state']['current']}")
            time.sleep(0.1)


def create_postgres_database() -> tuple[str, Any]:
    """A fresh database on the test server: (url, drop callback)."""
    from conftest import POSTGRES_ADMIN_URL, require_postgres

    require_postgres()
    import asyncpg

    name = f"kestrad_webui_{os.getpid()}_{int(time.time() * 1000) % 10**8}"

    async def run(sql: str) -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    def admin(sql: str) -> None:
        # A thread of its own: Playwright's event loop already runs in the test's thread.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, run(sql)).result()

    admin(f'CREATE DATABASE "{name}"')
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name

    def drop() -> None:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url, drop
