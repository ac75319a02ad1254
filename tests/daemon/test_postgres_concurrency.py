"""Flow `concurrency` holds across three `kestrad serve` daemons sharing one PostgreSQL database.

Thirty executions of a `limit: 2, behavior: QUEUE` flow are submitted through the three
daemons' APIs in five waves of six, each wave at one instant once the previous one ended
(so every daemon's executor may admit from a fresh count, at the same time). While they run, a separate connection samples how many of them the
database holds in a counted state; afterwards the executions' own state histories are swept
for the largest number running at one instant. Neither may exceed the limit, and every
execution must end SUCCESS (nothing stays QUEUED).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from pathlib import Path

import asyncpg

from kestrad.model.execution import decode_execution
from kestrad.model.state import TERMINATED, parse_iso
from kestrad.runtime.concurrency import COUNTED
from tests.conftest import postgres_database, require_postgres

from .helpers import Daemon, daemons_on

EXECUTIONS = 30
WAVES = 5  # of 6 executions, 2 per daemon, submitted at one instant
LIMIT = 2
NAMESPACE = "tests.pgconcurrency"
FLOW = f"""
id: limited
namespace: {NAMESPACE}
concurrency:
  limit: {LIMIT}
  behavior: QUEUE
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT0.3S
"""
COUNTED_SQL = (
    "SELECT count(*) FROM executions WHERE namespace = $1 AND flow_id = 'limited'"
    " AND state = ANY($2::text[])"
)


def _most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The largest number of [start, end) intervals holding one instant."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = most = 0
    for _, step in events:  # at equal instants the end (-1) sorts first
        running += step
        most = max(most, running)
    return most


async def _wave(
    daemons: list[Daemon],
    conn: asyncpg.Connection,
    samples: list[int],
    counted: list[str],
    before: int,
) -> list[str]:
    """Submit one wave at once (a fresh count, so every daemon's executor may admit), and
    sample the running count until every execution so far has ended."""
    size = EXECUTIONS // WAVES
    start = threading.Barrier(size)

    def submit(index: int) -> str:
        start.wait(30)
        return daemons[index % len(daemons)].create_execution(NAMESPACE, "limited")

    with concurrent.futures.ThreadPoolExecutor(size) as pool:
        submitted = asyncio.get_running_loop().run_in_executor(
            None, lambda: list(pool.map(submit, range(size)))
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            samples.append(int(await conn.fetchval(COUNTED_SQL, NAMESPACE, counted)))
            ended = await conn.fetchval(
                "SELECT count(*) FROM executions WHERE state = ANY($1::text[])",
                sorted(TERMINATED),
            )
            if submitted.done() and ended == before + size:
                break
            await asyncio.sleep(0.005)
        return await submitted


def test_flow_concurrency_limit_holds_across_three_daemons(tmp_path: Path) -> None:
    require_postgres()
    asyncio.run(_scenario(tmp_path))


async def _scenario(tmp_path: Path) -> None:
    async with postgres_database() as url:
        daemons = daemons_on(tmp_path, url, {"limited.yml": FLOW}, worker__concurrency=16)
        conn = await asyncpg.connect(url)
        try:
            for daemon in daemons:
                daemon.start()

            counted = sorted(COUNTED)
            samples: list[int] = []
            created: list[str] = []
            for _ in range(WAVES):
                created += await _wave(daemons, conn, samples, counted, len(created))
            assert len(set(created)) == EXECUTIONS

            rows = await conn.fetch("SELECT value FROM executions WHERE namespace = $1", NAMESPACE)
            finals = [decode_execution(r[0]) for r in rows]
            states = sorted({f.state.current for f in finals})
            assert len(finals) == EXECUTIONS
            assert states == ["SUCCESS"], f"end states {states}"
            intervals = [
                (
                    next(parse_iso(h.date) for h in f.state.histories if h.state == "RUNNING"),
                    parse_iso(f.state.histories[-1].date),
                )
                for f in finals
            ]
            at_once = _most_at_once(intervals)
            queued = sum(any(h.state == "QUEUED" for h in f.state.histories) for f in finals)
            print(
                f"\n{EXECUTIONS} executions over 3 daemons: {len(samples)} samples, most "
                f"counted at once {max(samples)} (sampled) / {at_once} (histories); "
                f"{queued} went through QUEUED"
            )
            assert max(samples) <= LIMIT, f"sampled {max(samples)} running, limit {LIMIT}"
            assert at_once <= LIMIT, f"{at_once} ran at once by their histories, limit {LIMIT}"
        finally:
            await conn.close()
            for daemon in daemons:
                daemon.close()
