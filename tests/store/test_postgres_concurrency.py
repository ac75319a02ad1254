"""Several writers on one PostgreSQL database: what must hold whoever commits first.

- A follower tailing logs by sequence id (`search_logs(after=…)`, `list_logs`, as SSE and
  `kestrad logs -f` do) sees every committed line exactly once while concurrent writer
  transactions, on connections of their own, insert lines.
- A writer frozen in its transaction stalls no other writer, and followers wait for it.
- Flow-trigger `preconditions` windows shared by two engines (separate pools): upstream
  executions ending together in both never lose each other's half of a window.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import anyio
import asyncpg
import pytest

from kestrad.config import Config
from kestrad.store.base import NewLog, Outgoing
from kestrad.store.postgres import PostgresStore
from kestrad.store.queries import queries
from kestrad.store.rows import log_params
from tests.conftest import postgres_database, require_postgres

pytestmark = pytest.mark.anyio

WRITERS = 6
ROUNDS = 60
LINES = 3  # per transaction


@pytest.fixture(autouse=True)
def _postgres_server() -> None:
    require_postgres()


def _line(writer: int, round_: int, index: int) -> NewLog:
    return NewLog(
        execution_id=f"exec-{writer}",
        namespace="tests.logs",
        flow_id="tail",
        task_id="t",
        task_run_id=f"run-{writer}-{round_}",
        attempt=1,
        level="INFO",
        timestamp="2025-01-01T00:00:00.000000Z",
        message=f"{writer}/{round_}/{index}",
    )


async def _write(store: PostgresStore, writer: int) -> None:
    """The worker's write path (logs, a result message, a job row done) and the plain one."""
    for round_ in range(ROUNDS):
        lines = [_line(writer, round_, i) for i in range(LINES)]
        if round_ % 2:
            await store.append_logs(lines)
        else:
            result = Outgoing(key=f"exec-{writer}", payload=b"result")
            await store.complete_worker_jobs([result], [], lines)


async def test_a_log_follower_never_skips_a_line_committed_late() -> None:
    async with postgres_database() as url:
        stores = [PostgresStore(url, min_size=1, max_size=2) for _ in range(WRITERS + 1)]
        for store in stores:
            await store.migrate()
        follower, writers = stores[0], stores[1:]
        seen: list[tuple[int, str]] = []
        per_execution: dict[str, list[int]] = {}
        done = anyio.Event()

        async def tail() -> None:
            last = 0
            cursors = dict.fromkeys((f"exec-{w}" for w in range(WRITERS)), 0)
            while True:
                finished = done.is_set()  # read before the last pass: nothing comes after
                for entry in await follower.search_logs(after=last, limit=10_000):
                    seen.append((entry.seq, entry.message))
                    last = entry.seq
                for execution_id, after in cursors.items():
                    for entry in await follower.list_logs(execution_id, after=after):
                        per_execution.setdefault(execution_id, []).append(entry.seq)
                        cursors[execution_id] = entry.seq
                if finished:
                    return
                await anyio.sleep(0)

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(tail)
                async with anyio.create_task_group() as writing:
                    for index, store in enumerate(writers):
                        writing.start_soon(_write, store, index)
                done.set()
        finally:
            for store in stores:
                await store.close()

        expected = {
            f"{w}/{r}/{i}" for w in range(WRITERS) for r in range(ROUNDS) for i in range(LINES)
        }
        messages = [message for _, message in seen]
        missing = expected - set(messages)
        assert not missing, f"the follower skipped {len(missing)} committed lines"
        assert len(messages) == len(expected), "a line was seen twice"
        assert [seq for seq, _ in seen] == sorted(seq for seq, _ in seen)
        for execution_id, seqs in per_execution.items():
            assert len(seqs) == ROUNDS * LINES, f"{execution_id}: {len(seqs)} lines followed"


async def test_a_frozen_log_writer_stalls_no_other_writer() -> None:
    """A daemon frozen between its log insert and its commit (SIGSTOP, a stalled VM): the
    others still write their lines at once. Followers stop just below its line until it
    commits (or its session is ended), then read both, in seq order. Before, every log
    insert took one cluster-wide lock, and the frozen daemon held it: no other daemon
    could write a line, nor complete a task, for as long as the freeze lasted."""
    async with postgres_database() as url:
        store = PostgresStore(url)
        await store.migrate()
        frozen = await asyncpg.connect(url)
        try:
            await frozen.execute("BEGIN")
            columns = [list(c) for c in zip(log_params(_line(0, 0, 0)), strict=True)]
            [(frozen_seq,)] = await frozen.fetch(queries("postgres")["log_insert"], *columns)
            with anyio.fail_after(5):
                await store.append_logs([_line(1, 0, 0)])
            assert await store.search_logs(after=0) == []
            assert await store.latest_logs() == []
            assert await store.list_logs("exec-1") == []
            await frozen.execute("COMMIT")
            lines = await store.search_logs(after=0)
            assert [(e.seq, e.message) for e in lines][:1] == [(frozen_seq, "0/0/0")]
            assert [e.message for e in lines] == ["0/0/0", "1/0/0"]
            assert [e.message for e in await store.list_logs("exec-1")] == ["1/0/0"]
        finally:
            await frozen.close()
            await store.close()


UPSTREAM = """
id: {name}
namespace: tests.windows
tasks:
  - id: say
    type: io.kestra.plugin.core.debug.Return
    format: "{name}"
"""
DOWNSTREAM = """
id: joined
namespace: tests.windows
tasks:
  - id: say
    type: io.kestra.plugin.core.debug.Return
    format: "both ended"
triggers:
  - id: both
    type: io.kestra.plugin.core.trigger.Flow
    preconditions:
      id: pair
      flows:
        - namespace: tests.windows
          flowId: left
          states: [SUCCESS]
        - namespace: tests.windows
          flowId: right
          states: [SUCCESS]
"""
PAIRS = 30


def _config(tmp_path: Path) -> Config:
    config = Config()
    config.storage.path = str(tmp_path / "storage")
    return config


async def test_two_engines_ending_both_halves_of_a_window_fire_once_per_pair(
    tmp_path: Path,
) -> None:
    from kestrad.runtime.engine import Engine

    async with (
        postgres_database() as url,
        Engine.open(url, config=_config(tmp_path)) as first,
        Engine.open(url, config=_config(tmp_path)) as second,
    ):
        for source in (UPSTREAM.format(name="left"), UPSTREAM.format(name="right"), DOWNSTREAM):
            await first.deploy_source(source)
        await second.flows.load_all()
        fired: list[int] = []

        async def run(engine: Engine, flow_id: str, ended: dict[str, str]) -> None:
            created = await engine.create_execution("tests.windows", flow_id)
            final = await engine.wait_for(created.id, timeout=30)
            ended[flow_id] = final.state.current

        for pair in range(1, PAIRS + 1):
            ended: dict[str, str] = {}
            async with anyio.create_task_group() as tg:  # both halves end at once
                tg.start_soon(run, first, "left", ended)
                tg.start_soon(run, second, "right", ended)
            assert ended == {"left": "SUCCESS", "right": "SUCCESS"}
            # The second end creates `joined` in its own batch: it is there already, unless
            # a lost window update kept it from firing.
            with anyio.move_on_after(2):
                while len(await first.store.list_executions(flow_id="joined")) < pair:
                    await anyio.sleep(0.02)
            fired.append(len(await first.store.list_executions(flow_id="joined")))
        assert fired == list(itertools.accumulate([1] * PAIRS)), (
            f"executions of `joined` after each pair: {fired}"
        )
