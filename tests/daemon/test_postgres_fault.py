"""Three daemons on one PostgreSQL database; one is killed with SIGKILL mid-run.

Every execution must still end SUCCESS: the dead daemon's worker jobs are handed out again
once its heartbeat is older than `liveness.timeout`. A task run may complete twice only if
the dead worker held it; the test counts such runs and reports them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import time
from pathlib import Path

from tests.conftest import postgres_database, require_postgres

from .helpers import ENDED_SQL, daemons_on, fetchval

EXECUTIONS = 300
FLOW = """
id: napper
namespace: tests.fault
tasks:
  - id: before
    type: io.kestra.plugin.core.log.Log
    message: "before"
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT1S
    timeout: PT1M  # with a timeout a Sleep runs on the worker: the victim holds jobs
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: "after"
"""


def test_kill_one_of_three_daemons_loses_no_execution(tmp_path: Path) -> None:
    require_postgres()
    asyncio.run(_scenario(tmp_path))


async def _scenario(tmp_path: Path) -> None:
    async with postgres_database() as url:
        daemons = daemons_on(
            tmp_path,
            url,
            {"napper.yml": FLOW},
            liveness__timeout="PT3S",
            liveness__heartbeat_interval="PT1S",
            worker__concurrency=32,
        )
        try:
            for daemon in daemons:
                daemon.start()
            front, victim = daemons[0], daemons[2]
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                created = list(
                    pool.map(
                        lambda _: front.create_execution("tests.fault", "napper"),
                        range(EXECUTIONS),
                    )
                )
            assert len(set(created)) == EXECUTIONS
            # Kill the victim once it holds work.
            assert victim.process is not None
            victim_id = await fetchval(
                url, "SELECT id FROM service_instance WHERE pid = $1", victim.process.pid
            )
            deadline = time.monotonic() + 20
            held = 0
            while time.monotonic() < deadline:
                held = int(
                    await fetchval(
                        url, "SELECT count(*) FROM queue_worker WHERE claimed_by = $1", victim_id
                    )
                )
                if held:
                    break
                await asyncio.sleep(0.05)
            os.kill(victim.process.pid, signal.SIGKILL)
            victim.process.wait()
            held = int(
                await fetchval(
                    url, "SELECT count(*) FROM queue_worker WHERE claimed_by = $1", victim_id
                )
            )

            deadline = time.monotonic() + 45
            done = 0
            while time.monotonic() < deadline:
                done = int(await fetchval(url, ENDED_SQL))
                if done == EXECUTIONS:
                    break
                await asyncio.sleep(0.25)
            states = await fetchval(url, "SELECT string_agg(DISTINCT state, ',') FROM executions")
            assert done == EXECUTIONS, f"{done}/{EXECUTIONS} ended; states {states}"
            assert states == "SUCCESS"
            twice = int(
                await fetchval(
                    url,
                    "SELECT count(*) FROM (SELECT task_run_id FROM logs WHERE task_id IN "
                    "('before', 'after') GROUP BY task_run_id HAVING count(*) > 1) AS d",
                )
            )
            state = await fetchval(
                url, "SELECT state FROM service_instance WHERE id = $1", victim_id
            )
            print(
                f"\n{EXECUTIONS} executions SUCCESS; killed instance held {held} job(s), "
                f"now {state}; task runs completed twice: {twice}"
            )
            assert state == "DISCONNECTED"
            assert twice <= held
        finally:
            for daemon in daemons:
                daemon.close()
