"""A real `kestrad serve` process for tests, and ways to look at what it did.

`Daemon` starts `python -m kestrad serve --config FILE` with a temporary folder, database
and a free port, its stderr in a file, and an sd_notify socket bound by the test so
readiness is a datagram, not a guess. `StoreView` reads the SQLite database directly;
`ApiView` answers the same questions over HTTP, so a test can switch by changing its
fixture. Every wait polls against a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float = 15.0, what: str = "condition") -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def kestrad(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """One `python -m kestrad ARGS` run to its end (60 s at most), its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "kestrad", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class NotifySocket:
    """The service manager's side of sd_notify: an AF_UNIX datagram socket we bind."""

    def __init__(self, path: Path | None = None, *, abstract: str | None = None) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract is not None:
            self.sock.bind(b"\0" + abstract.encode())
            self.address = "@" + abstract
        else:
            assert path is not None
            self.sock.bind(str(path))
            self.address = str(path)
        self.sock.setblocking(False)
        self.messages: list[dict[str, str]] = []

    def poll(self) -> list[dict[str, str]]:
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return self.messages
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if line)
            self.messages.append(fields)

    def wait_for(self, key: str, value: str | None = None, *, after: int = 0, timeout=15.0):
        """The first datagram (from index `after`) carrying `key` (= `value`)."""

        def find() -> tuple[int, dict[str, str]] | None:
            for index, fields in enumerate(self.poll()[after:], start=after):
                if key in fields and (value is None or fields[key] == value):
                    return index, fields
            return None

        return wait_until(find, timeout, f"sd_notify {key}={value or '*'}")

    def count(self, key: str) -> int:
        return sum(1 for fields in self.poll() if key in fields)

    def close(self) -> None:
        self.sock.close()


class Daemon:
    """One `kestrad serve` subprocess over a temporary folder and database."""

    def __init__(self, tmp: Path, **settings: Any) -> None:
        self.tmp = tmp
        self.flows = tmp / "flows"
        self.flows.mkdir(exist_ok=True)
        self.db = tmp / "kestrad.db"
        self.port = free_port()
        self.config_file = tmp / "kestrad.yml"
        self.stderr_file = tmp / "stderr.log"
        self.settings = settings
        self.notify: NotifySocket | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.write_config()

    def write_config(self, **changes: Any) -> None:
        self.settings.update(changes)
        config = {
            "database": {"url": f"sqlite:///{self.db}"},
            "flows": {"path": str(self.flows), "rescan_interval": None},
            "server": {"host": "127.0.0.1", "port": self.port},
            "liveness": {"heartbeat_interval": "PT1S"},
        }
        for dotted, value in self.settings.items():
            section, key = dotted.split("__")
            config.setdefault(section, {})[key] = value
        self.config_file.write_text(json.dumps(config))  # JSON is YAML

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, env: dict[str, str] | None = None, wait: bool = True) -> Daemon:
        if self.notify is None:
            path = self.tmp / "notify.sock"
            if len(str(path)) < 100:  # AF_UNIX paths are limited to 108 bytes
                self.notify = NotifySocket(path)
            else:
                self.notify = NotifySocket(abstract=f"kestrad-test-{os.getpid()}-{id(self)}")
        self.notify.messages.clear()
        self.stderr = self.stderr_file.open("ab")
        full_env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "NOTIFY_SOCKET": self.notify.address,
            **(env or {}),
        }
        for name in ("JOURNAL_STREAM", "WATCHDOG_USEC", "WATCHDOG_PID"):
            if not env or name not in env:
                full_env.pop(name, None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kestrad", "serve", "--config", str(self.config_file)],
            stdout=subprocess.DEVNULL,
            stderr=self.stderr,
            env=full_env,
            cwd=self.tmp,
        )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        assert self.notify is not None and self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(m.get("READY") == "1" for m in self.notify.poll()):
                return
            if self.process.poll() is not None:
                raise AssertionError(f"kestrad exited {self.process.returncode}:\n{self.log()}")
            time.sleep(0.02)
        raise AssertionError(f"kestrad not ready after {timeout}s:\n{self.log()}")

    def signal(self, signum: int = signal.SIGTERM) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"kestrad still running after {timeout}s:\n{self.log()}") from None

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; kills it if it does not stop (then fails the test)."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.signal(signal.SIGTERM)
        try:
            return self.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.notify is not None:
            self.notify.close()

    def log(self) -> str:
        return self.stderr_file.read_text(errors="replace") if self.stderr_file.exists() else ""

    def wait_log(self, text: str, timeout: float = 15.0, *, count: int = 1) -> str:
        return wait_until(
            lambda: self.log() if self.log().count(text) >= count else "", timeout, repr(text)
        )

    # -- flow files ---------------------------------------------------------------------------
    def write_flow(self, name: str, text: str, *, atomic: bool = True) -> Path:
        """Save like an editor: write a temporary file and rename it over the target."""
        path = self.flows / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if atomic:
            temporary = path.with_name(f".{path.name}.tmp")
            temporary.write_text(text)
            os.replace(temporary, path)
        else:
            with path.open("w") as handle:  # in place: truncate, then write
                handle.write(text)
        return path

    # -- HTTP ---------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: bytes | None = None, **headers: str) -> Any:
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def create_execution(self, namespace: str, flow_id: str) -> str:
        created = self.request(
            "POST", f"/api/v1/main/executions/{namespace}/{flow_id}", b"{}", **_JSON
        )
        return created["id"]


_JSON = {"Content-Type": "application/json"}


class FlowState:
    """What the tests check about a flow, whichever way it was read."""

    def __init__(self, revision: int, disabled: bool, file: str | None = None) -> None:
        self.revision = revision
        self.disabled = disabled
        self.file = file

    def __repr__(self) -> str:
        return f"FlowState(revision={self.revision}, disabled={self.disabled}, file={self.file})"


class StoreView:
    """Reads the daemon's SQLite database directly (WAL: safe while it writes)."""

    def __init__(self, db: Path) -> None:
        self.db = db

    def _query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        if not self.db.exists():
            return []
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    def flow(self, namespace: str, flow_id: str) -> FlowState | None:
        rows = self._query(
            "SELECT revision, disabled, file FROM flows WHERE namespace = ? AND id = ? "
            "ORDER BY revision DESC LIMIT 1",
            namespace,
            flow_id,
        )
        return FlowState(rows[0][0], bool(rows[0][1]), rows[0][2]) if rows else None

    def execution_state(self, execution_id: str) -> str | None:
        rows = self._query("SELECT state FROM executions WHERE id = ?", execution_id)
        return rows[0][0] if rows else None

    def states_history(self, execution_id: str) -> list[str]:
        """Every state the execution went through, oldest first."""
        from kestrad.model.execution import decode_execution

        rows = self._query("SELECT value FROM executions WHERE id = ?", execution_id)
        return [h.state for h in decode_execution(rows[0][0]).state.histories] if rows else []

    def task_states(self, execution_id: str) -> dict[str, str]:
        """task id → state of its (last) task run, decoded from the stored execution."""
        from kestrad.model.execution import decode_execution

        rows = self._query("SELECT value FROM executions WHERE id = ?", execution_id)
        if not rows:
            return {}
        execution = decode_execution(rows[0][0])
        return {run.task_id: run.state.current for run in execution.task_run_list}

    def log_messages(self, execution_id: str) -> list[str]:
        rows = self._query(
            "SELECT message FROM logs WHERE execution_id = ? ORDER BY seq", execution_id
        )
        return [r[0] for r in rows]


class ApiView:
    """The same questions through the HTTP API (the daemon must be up)."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def flow(self, namespace: str, flow_id: str) -> FlowState | None:
        try:
            found = self.daemon.request(
                "GET", f"/api/v1/main/flows/{namespace}/{flow_id}", Accept="application/json"
            )
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise
        return FlowState(found["revision"], bool(found.get("disabled")))

    def execution_state(self, execution_id: str) -> str | None:
        try:
            found = self.daemon.request("GET", f"/api/v1/main/executions/{execution_id}")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise
        return found["state"]["current"]


# -- several daemons on one PostgreSQL database ------------------------------------------------
def daemons_on(
    tmp_path: Path,
    url: str,
    flows: dict[str, str],
    *,
    count: int = 3,
    roles: list[str] | None = None,
    **settings: Any,
) -> list[Daemon]:
    """`count` daemons (not started) sharing the database at `url` and one storage folder.

    Each has its own folder holding every file of `flows` (name → YAML): a daemon whose
    folder lacked a flow would delete it for all. `roles[i]` sets daemon i's roles.
    """
    daemons = []
    for index in range(count):
        folder = tmp_path / f"d{index}"
        folder.mkdir()
        extra = {"server__roles": roles[index]} if roles else {}
        daemon = Daemon(
            folder,
            database__url=url,
            storage__path=str(tmp_path / "storage"),
            **extra,
            **settings,
        )
        for name, text in flows.items():
            (daemon.flows / name).write_text(text)
        daemons.append(daemon)
    return daemons


async def fetchval(url: str, sql: str, *args: object) -> Any:
    """One value from a fresh connection to the PostgreSQL database at `url`."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


ENDED_SQL = (
    "SELECT count(*) FROM executions WHERE state IN ('SUCCESS', 'FAILED', 'KILLED', 'WARNING')"
)
