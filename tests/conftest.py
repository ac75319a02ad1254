"""Shared fixtures: the event loop backend and one `store` fixture over every backend."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CONFORMANCE_DIR = Path(
    os.environ.get("KESTRAD_CONFORMANCE_DIR", REPO.parent / "shared" / "conformance")
)
BENCH_FLOWS_DIR = Path(
    os.environ.get("KESTRAD_BENCH_FLOWS", REPO.parent / "shared" / "bench-flows")
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# Every `store` test runs on SQLite and on PostgreSQL. Without a reachable server the
# PostgreSQL cases are skipped with a message locally, and fail in CI (CI=true).
POSTGRES_ADMIN_URL = os.environ.get(
    "KESTRAD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
STORE_BACKENDS = ["sqlite", "postgres"]


def postgres_reachable() -> bool:
    """A TCP connect to the test server's host and port (cheap, no login)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(POSTGRES_ADMIN_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 1.0):
            return True
    except OSError:
        return False


def require_postgres() -> None:
    """Skip (locally) or fail (in CI) when no PostgreSQL server answers."""
    if postgres_reachable():
        return
    message = f"no PostgreSQL server at {POSTGRES_ADMIN_URL}: PostgreSQL tests need one"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


@contextlib.asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A fresh, empty database on the test server; dropped on exit. Yields its url."""
    import asyncpg

    name = f"kestrad_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(params=STORE_BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[object]:
    """A migrated, empty store on each backend (SQLite file in tmp_path, PostgreSQL in a
    database of its own)."""
    from kestrad.store.factory import open_store

    async with contextlib.AsyncExitStack() as stack:
        if request.param == "postgres":
            require_postgres()
            url = await stack.enter_async_context(postgres_database())
        else:
            url = f"sqlite:///{tmp_path}/store.db"
        instance = open_store(url)
        await instance.migrate()
        try:
            yield instance
        finally:
            await instance.close()


@pytest.fixture(params=STORE_BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database on each backend, for a whole engine (`Engine.open(url)`): the same
    two backends as the `store` fixture, unmigrated."""
    if request.param == "postgres":
        require_postgres()
        async with postgres_database() as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path}/engine.db"
