"""Whole flows on the PostgreSQL store: one engine, and two engines sharing one database."""

from __future__ import annotations

import itertools
from pathlib import Path

import anyio
import pytest

from kestrad.config import Config
from kestrad.model.state import parse_iso
from kestrad.runtime.engine import Engine
from tests.conftest import postgres_database, require_postgres

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _postgres_server() -> None:
    require_postgres()


HELLO = """
id: hello
namespace: tests.pg
inputs:
  - id: who
    type: STRING
    defaults: world
tasks:
  - id: greet
    type: io.kestra.plugin.core.log.Log
    message: "hello {{ inputs.who }}"
  - id: both
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: left
        type: io.kestra.plugin.core.debug.Return
        format: "L-{{ inputs.who }}"
      - id: right
        type: io.kestra.plugin.core.flow.Sleep
        duration: PT0.05S
"""

LIMITED = """
id: limited
namespace: tests.pg
concurrency:
  limit: 1
  behavior: QUEUE
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT0.2S
"""


async def test_migrations_apply_once_even_from_two_daemons_at_once() -> None:
    from kestrad.store.factory import open_store

    async with postgres_database() as url:
        stores = [open_store(url) for _ in range(3)]
        async with anyio.create_task_group() as tg:
            for store in stores:
                tg.start_soon(store.migrate)
        await stores[0].migrate()
        for store in stores:
            await store.close()


def _config(tmp_path: Path) -> Config:
    config = Config()
    config.storage.path = str(tmp_path / "storage")
    return config


async def test_a_flow_runs_to_success_with_its_logs(tmp_path: Path) -> None:
    async with postgres_database() as url, Engine.open(url, config=_config(tmp_path)) as engine:
        await engine.deploy_source(HELLO)
        created = [
            await engine.create_execution("tests.pg", "hello", inputs={"who": f"n{i}"})
            for i in range(10)
        ]
        finals = [await engine.wait_for(e.id, timeout=30) for e in created]
        assert [f.state.current for f in finals] == ["SUCCESS"] * 10
        logs = await engine.store.list_logs(created[3].id)
        assert any(entry.message == "hello n3" for entry in logs)
        returned = next(t for t in finals[3].task_run_list if t.task_id == "left")
        assert returned.outputs == {"value": "L-n3"}


async def test_flow_concurrency_queues_on_postgres(tmp_path: Path) -> None:
    async with postgres_database() as url, Engine.open(url, config=_config(tmp_path)) as engine:
        await engine.deploy_source(LIMITED)
        created = [await engine.create_execution("tests.pg", "limited") for _ in range(3)]
        finals = [await engine.wait_for(e.id, timeout=30) for e in created]
    assert [f.state.current for f in finals] == ["SUCCESS"] * 3
    intervals = sorted(
        (
            next(parse_iso(h.date) for h in f.state.histories if h.state == "RUNNING"),
            parse_iso(f.state.histories[-1].date),
        )
        for f in finals
    )
    for (_, end), (start, _) in itertools.pairwise(intervals):
        assert start >= end, "two executions of a limit-1 flow ran at the same time"


async def test_two_engines_on_one_database_share_the_work(tmp_path: Path) -> None:
    async with (
        postgres_database() as url,
        Engine.open(url, config=_config(tmp_path)) as first,
        Engine.open(url, config=_config(tmp_path)) as second,
    ):
        await first.deploy_source(HELLO)
        await second.flows.load_all()
        created = []
        for i in range(30):
            engine = first if i % 2 else second
            created.append(await engine.create_execution("tests.pg", "hello"))
        with anyio.fail_after(60):
            finals = [await first.wait_for(e.id, timeout=60) for e in created]
        assert [f.state.current for f in finals] == ["SUCCESS"] * 30
        for final in finals:
            # Each task run ran once: no message of an execution was processed twice.
            assert len([t for t in final.task_run_list if t.task_id == "greet"]) == 1
