"""SQLite's cross-process write lock: an exclusive flock on `<db>.writelock` around every
write, so processes sharing one file (`kestrad serve --processes N`, a `kestrad run`
beside the daemon) wait for each other in the kernel instead of in SQLite's sleeping
busy handler. SQLite-only by nature: PostgreSQL serializes writers itself."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import stat
from pathlib import Path

import anyio
import pytest

from kestrad.store.factory import open_store
from kestrad.store.statements import Execute, Plan

pytestmark = pytest.mark.anyio

SOURCE = "id: f\nnamespace: ns\ntasks: []\n"


async def test_a_write_waits_for_the_lock_holder_and_runs_when_it_lets_go(
    tmp_path: Path,
) -> None:
    store = open_store(f"sqlite:///{tmp_path}/kestrad.db")
    await store.migrate()
    lock_path = tmp_path / "kestrad.db.writelock"
    # Another open file description: to flock, another process.
    holder = os.open(lock_path, os.O_RDWR)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        saved = anyio.Event()

        async def save() -> None:
            await store.save_flow("ns", "f", SOURCE, "digest", None)
            saved.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(save)
            with anyio.move_on_after(0.3):
                await saved.wait()
            assert not saved.is_set()  # held elsewhere: the write waits, it does not fail
            fcntl.flock(holder, fcntl.LOCK_UN)
            with anyio.fail_after(5):
                await saved.wait()
        row = await store.get_flow("ns", "f")
        assert row is not None and row.revision == 1
        # Released after the write: another process can take it at once.
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(holder, fcntl.LOCK_UN)
    finally:
        os.close(holder)
        await store.close()


async def test_the_lock_file_is_private_and_beside_the_database(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/data/kestrad.db")
    await store.migrate()
    await store.close()
    lock_path = tmp_path / "data" / "kestrad.db.writelock"
    assert stat.S_IMODE(lock_path.stat().st_mode) & 0o077 == 0
    assert sorted(p.name for p in (tmp_path / "data").iterdir() if "writelock" in p.name) == [
        "kestrad.db.writelock"
    ]


async def test_a_failed_write_lets_the_lock_go(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/kestrad.db")
    await store.migrate()

    def failing() -> Plan[None]:
        yield Execute("flow_insert", ("ns", "f", 1, SOURCE, "d", None, "now"))
        yield Execute("flow_insert", ("ns", "f", 1, SOURCE, "d", None, "now"))  # same key

    try:
        with pytest.raises(sqlite3.IntegrityError):
            await store.connector.write(failing())
        holder = os.open(tmp_path / "kestrad.db.writelock", os.O_RDWR)
        try:
            fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)  # not left held
        finally:
            os.close(holder)
        assert await store.get_flow("ns", "f") is None  # and rolled back
    finally:
        await store.close()
