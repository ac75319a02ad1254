"""The folder sync's file problems reach the store, so every process reads the same.

A real engine syncs a real folder (FlowSync, driven by its entry points: `reconcile` as at
start, on SIGHUP and by the rescan, `sync_paths` as the watcher calls it) on both stores;
a second store on the same database plays another process reading. The set is written
when it changes and only then, whole at start and on SIGHUP (stale rows of an earlier run
go), and cleared as files load again or go away.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kestrad.config import Config
from kestrad.flows.problems import Problem
from kestrad.runtime.engine import Engine
from kestrad.runtime.watcher import FlowSync
from kestrad.store.base import Store
from kestrad.store.factory import open_store

pytestmark = pytest.mark.anyio


def _flow(flow_id: str, task_type: str = "io.kestra.plugin.core.log.Log") -> str:
    return f"""id: {flow_id}
namespace: tests.file_problems
tasks:
  - id: say
    type: {task_type}
    message: hello
"""


MISSING = "io.kestra.nope.Missing"


@dataclass
class Folder:
    engine: Engine
    sync: FlowSync
    reader: Store  # another process's view of the store
    root: Path

    def write(self, name: str, text: str) -> str:
        path = self.root / name
        path.write_text(text)
        return str(path)

    async def stored(self) -> dict[str, list[Problem]]:
        mine = await self.engine.file_problems.current()
        assert await self.reader.file_problems() == mine  # every process reads the same
        return mine

    @property
    def writes(self) -> int:
        return self.engine.file_problems.folder(self.sync.root).writes


@pytest.fixture
async def folder(database_url: str, tmp_path: Path) -> AsyncIterator[Folder]:
    root = tmp_path / "flows"
    root.mkdir()
    config = Config()
    config.storage.path = str(tmp_path / "storage")
    config.tasks.work_path = str(tmp_path / "work")
    reader = open_store(database_url)
    async with Engine.open(database_url, config=config, roles="") as engine:
        await reader.migrate()
        try:
            yield Folder(engine, FlowSync(engine, root), reader, root.resolve())
        finally:
            await reader.close()


async def test_problems_are_stored_when_they_change_and_cleared_when_files_load(
    folder: Folder,
) -> None:
    good = folder.write("good.yml", _flow("good"))
    never = folder.write("never.yml", _flow("never", MISSING))
    await folder.sync.reconcile()
    stored = await folder.stored()
    assert list(stored) == [never]
    assert MISSING in stored[never][0].message and stored[never][0].file == never
    assert folder.sync.problem_count == 1
    writes = folder.writes

    folder.write("good.yml", _flow("good", MISSING))  # breaks: revision 1 keeps running
    await folder.sync.sync_paths([good])
    assert sorted(await folder.stored()) == [good, never]
    assert folder.sync.problem_count == 2
    assert folder.writes == writes + 1

    await folder.sync.sync_paths([good, never])  # nothing changed: nothing written
    await folder.sync.reconcile(from_store=False)  # a rescan finding nothing new
    assert folder.writes == writes + 1

    folder.write("good.yml", _flow("good"))  # loads again
    await folder.sync.sync_paths([good])
    assert list(await folder.stored()) == [never]
    os.unlink(never)  # goes away
    await folder.sync.sync_paths([never])
    assert await folder.stored() == {}
    assert folder.sync.problem_count == 0
    assert folder.writes == writes + 3


async def test_start_and_sighup_write_the_whole_set_and_stale_rows_go(folder: Folder) -> None:
    root = str(folder.root)
    stale = f"{root}/fixed-while-stopped.yml"
    elsewhere = "/another/daemon/flows/x.yml"
    old = Problem(file=stale, line=1, column=1, path="", message="from an earlier run")
    await folder.engine.store.replace_file_problems(root, {stale: [old]})
    await folder.engine.store.replace_file_problems("/another/daemon/flows", {elsewhere: [old]})
    broken = folder.write("broken.yml", _flow("broken", MISSING))

    await folder.sync.reconcile()  # a start
    assert sorted(await folder.stored()) == sorted([broken, elsewhere])
    writes = folder.writes

    await folder.engine.store.replace_file_problems(root, {stale: [old]})  # out of band
    await folder.sync.reconcile(from_store=True)  # SIGHUP: written again, unchanged or not
    assert sorted(await folder.stored()) == sorted([broken, elsewhere])
    assert folder.writes == writes + 1


async def test_odd_file_names_and_long_messages_are_stored_as_data(folder: Folder) -> None:
    odd = folder.write('it\'s "odd"; --\n üñí 流れ.yml', _flow("odd", MISSING + "x" * 50_000))
    undecodable = os.fsdecode(os.fsencode(str(folder.root)) + b"/caf\xe9.yml")
    with open(os.fsencode(undecodable), "w") as handle:
        handle.write(_flow("cafe", MISSING))
    await folder.sync.reconcile()

    stored = await folder.stored()
    assert sorted(stored) == sorted([odd, f"{folder.root}/caf\\udce9.yml"])
    assert MISSING + "x" * 50_000 in stored[odd][0].message
    assert folder.sync.problem_count == 2
