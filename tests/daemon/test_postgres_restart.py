"""PostgreSQL stops mid-run under two `kestrad serve` daemons, then starts again.

Both daemons must ride it out: `GET /health` answers 503 saying the database is
unreachable while it is down, each log gets one WARNING when the outage starts and one
INFO when it ends (not a traceback per poll), and every execution still ends SUCCESS once
the server is back: the executor's batch and the worker's results are retried, never
dropped, and the asyncpg pool and the LISTEN connection reconnect by themselves.

The server is the shared test server (other tests may use it meanwhile), so the outage is
kept to a few seconds and the server is started again whatever happens.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from tests.conftest import POSTGRES_ADMIN_URL, require_postgres

from .helpers import ENDED_SQL, Daemon, daemons_on

EXECUTIONS = 100
FLOW = """
id: rider
namespace: tests.restart
tasks:
  - id: before
    type: io.kestra.plugin.core.log.Log
    message: "before"
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT0.5S
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: "after"
"""
CLUSTER = ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main"]
DOWN_SECONDS = 3.0  # how long the server stays stopped
WARNING = "database unreachable ("
RECOVERED = "database reachable again after"


def _require_restartable_server() -> None:
    """The restart needs the local cluster's control script; skip (locally) or fail (CI)."""
    require_postgres()
    host = urlsplit(POSTGRES_ADMIN_URL).hostname
    if shutil.which(CLUSTER[0]) and host in ("127.0.0.1", "localhost", "::1"):
        return
    message = f"restarting PostgreSQL needs {CLUSTER[0]} and a local server ({host})"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def _cluster(action: str) -> None:
    subprocess.run([*CLUSTER, action], check=True, capture_output=True, timeout=60)


async def _connect(url: str, timeout: float = 30.0) -> asyncpg.Connection:
    """A connection, waiting for a server that is (re)starting."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await asyncpg.connect(url, timeout=5)
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.PostgresConnectionError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _fetchval(url: str, sql: str) -> object:
    conn = await _connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def _database() -> AsyncIterator[str]:
    """A fresh database, dropped on exit through a new connection (the restart closes any
    connection opened before it, so `postgres_database()`'s one cannot be reused)."""
    name = f"kestrad_test_{uuid.uuid4().hex[:12]}"
    admin = await _connect(POSTGRES_ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        admin = await _connect(POSTGRES_ADMIN_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def _health(daemon: Daemon) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(daemon.url + "/health", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _submit(daemon: Daemon) -> tuple[int, dict[str, object], str | None]:
    """POST a new execution: (status, body, Retry-After)."""
    request = urllib.request.Request(
        daemon.url + "/api/v1/main/executions/tests.restart/rider",
        data=b"{}",
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), exc.headers.get("Retry-After")


def _tracebacks(log: str) -> list[str]:
    """Log records followed by a traceback."""
    records = re.split(r"\n(?=\d{4}-\d\d-\d\dT)", log)
    return [r for r in records if "Traceback" in r]


def _daemons(tmp_path: Path, url: str) -> list[Daemon]:
    """Every role in the first daemon (its worker's results travel in its executor's
    batch); a worker, the API and a standby scheduler in the second (its results go
    through the worker's own outbox flush; its lease claims meet the outage). The
    liveness timeout is shorter than the outage: once the server is back, neither daemon
    may declare the other dead for a silence the outage caused."""
    return daemons_on(
        tmp_path,
        url,
        {"rider.yml": FLOW},
        count=2,
        roles=["executor,worker,scheduler,webserver", "worker,scheduler,webserver"],
        liveness__heartbeat_interval="PT0.5S",
        liveness__timeout="PT2S",
        worker__concurrency=8,  # 16 tasks at a time: still running at the stop
    )


async def _ended(url: str) -> int:
    return int(await _fetchval(url, ENDED_SQL))  # type: ignore[arg-type]


def test_daemons_ride_out_a_postgres_restart(tmp_path: Path) -> None:
    _require_restartable_server()
    asyncio.run(_scenario(tmp_path))


async def _scenario(tmp_path: Path) -> None:
    async with _database() as url:
        daemons = _daemons(tmp_path, url)
        try:
            for daemon in daemons:
                daemon.start()
            front = daemons[0]
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                created = list(
                    pool.map(
                        lambda _: front.create_execution("tests.restart", "rider"),
                        range(EXECUTIONS),
                    )
                )
            assert len(set(created)) == EXECUTIONS
            # Mid-run: some executions ended, the others wait or sleep in a task.
            deadline = time.monotonic() + 30
            while (ended_before := await _ended(url)) < 10 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert 0 < ended_before < EXECUTIONS, f"{ended_before} ended before the stop"

            stopped = False
            try:
                _cluster("stop")
                stopped = True
                status, body = _health(daemons[1])
                submitted = _submit(daemons[0])
                await asyncio.sleep(DOWN_SECONDS)
            finally:
                if stopped:
                    _cluster("start")

            assert status == 503, body
            assert body["status"] == "DOWN" and body["database"] == "DOWN", body
            assert "the database is unreachable" in str(body["message"]), body
            # A request that needs the database is told to come back, not "internal error".
            assert submitted[0] == 503, submitted
            assert "the database is unreachable" in str(submitted[1].get("message")), submitted
            assert submitted[2] == "5", submitted

            deadline = time.monotonic() + 60
            done = 0
            while time.monotonic() < deadline:
                done = await _ended(url)
                if done == EXECUTIONS:
                    break
                await asyncio.sleep(0.25)
            states = await _fetchval(url, "SELECT string_agg(DISTINCT state, ',') FROM executions")
            assert done == EXECUTIONS, f"{done}/{EXECUTIONS} ended; states {states}"
            assert states == "SUCCESS"
            twice = int(
                await _fetchval(  # type: ignore[arg-type]
                    url,
                    # A task run handed out again runs as a new attempt (its lost one is
                    # RESUBMITTED): two attempts logging is a second run. The same line
                    # twice under one attempt is a log batch retried after a commit whose
                    # answer the outage cut off: logs are at-least-once across that.
                    "SELECT count(*) FROM (SELECT task_run_id FROM logs WHERE task_id IN "
                    "('before', 'after') GROUP BY task_run_id "
                    "HAVING count(DISTINCT attempt) > 1) AS d",
                )
            )

            for daemon in daemons:
                assert daemon.process is not None
                assert daemon.process.poll() is None, f"daemon exited:\n{daemon.log()}"
                text = daemon.log()
                warnings = text.count(WARNING)
                assert warnings >= 1, f"no outage warning:\n{text}"
                assert text.count(RECOVERED) >= 1, f"no recovery line:\n{text}"
                # One outage, one warning (a second one only if a stale connection failed
                # after the first success), never a traceback per poll.
                assert warnings <= 2, f"{warnings} outage warnings:\n{text}"
                assert not _tracebacks(text), f"tracebacks logged:\n{text}"
                status, body = _health(daemon)
                assert status == 200 and body["database"] == "UP", body
            # Results finished during the outage were kept and written afterwards: no task
            # run was handed out again and run twice.
            if twice:
                rows = await _fetchval(  # type: ignore[arg-type]
                    url,
                    "SELECT string_agg(format('%s/%s attempt %s seq %s', l.task_id, "
                    "l.task_run_id, l.attempt, l.seq), '; ' ORDER BY l.seq) FROM logs AS l "
                    "WHERE l.task_run_id IN (SELECT task_run_id FROM logs WHERE task_id IN "
                    "('before', 'after') GROUP BY task_run_id "
                    "HAVING count(DISTINCT attempt) > 1)",
                )
                logs = "\n".join(d.log()[-4000:] for d in daemons)
                raise AssertionError(f"{twice} task run(s) completed twice: {rows}\n{logs}")
            print(
                f"\n{EXECUTIONS} executions SUCCESS across a {DOWN_SECONDS:g}s PostgreSQL "
                f"outage ({ended_before} had ended before it); task runs completed twice: {twice}"
            )
        finally:
            for daemon in daemons:
                daemon.close()
