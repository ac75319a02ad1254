"""Shared fixtures: the event loop backend and one `store` fixture over every backend."""

from __future__ import annotations

import os
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


STORE_BACKENDS = ["sqlite"]


@pytest.fixture(params=STORE_BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[object]:
    """A migrated, empty store on each backend (SQLite file in tmp_path)."""
    from kestrad.store.factory import open_store

    url = f"sqlite:///{tmp_path}/store.db"
    instance = open_store(url)
    await instance.migrate()
    try:
        yield instance
    finally:
        await instance.close()
