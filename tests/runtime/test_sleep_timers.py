"""Issue 15 item 1, "waiting holds nothing": a Sleep is a durable timer in the queue, not a
worker slot held for its whole duration. Kestra: SleepTest (the task), and its published
sleep benchmark (1 500 executions/min of a 5 s Sleep) for why it matters."""

from __future__ import annotations

import pytest

from kestrad.config import Config
from kestrad.runtime.engine import Engine

pytestmark = pytest.mark.anyio

SLEEPER = """
id: sleeper
namespace: tests.timers
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT1H
"""

LOGGER = """
id: logger
namespace: tests.timers
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: a worker slot was free
"""


async def test_many_sleeps_hold_no_worker_slot(database_url: str) -> None:
    """With 2 worker slots, 40 sleeping executions leave both free: none is a worker job,
    and a flow that needs a worker still runs while they all sleep."""
    config = Config()
    config.database.url = database_url
    config.worker.concurrency = 2
    async with Engine.open(config=config) as engine:
        await engine.deploy_source(SLEEPER)
        await engine.deploy_source(LOGGER)
        sleepers = [await engine.create_execution("tests.timers", "sleeper") for _ in range(40)]
        for execution in sleepers:
            napping = await engine.wait_for(
                execution.id,
                until=lambda e: (
                    bool(e.task_run_list) and e.task_run_list[0].state.current == "RUNNING"
                ),
                timeout=60,
            )
            assert napping.state.current == "RUNNING"
        assert engine.worker.running == 0
        assert await engine.store.count_worker_claims(engine.worker.instance_id) == 0
        logger = await engine.create_execution("tests.timers", "logger")
        done = await engine.wait_for(logger.id, timeout=60)
        assert done.state.current == "SUCCESS"
        for execution in sleepers:  # still sleeping: the hour is not over
            current = await engine.get_execution(execution.id)
            assert current is not None and current.state.current == "RUNNING"
        for execution in sleepers:
            await engine.kill(execution.id)
        for execution in sleepers:
            killed = await engine.wait_for(execution.id, timeout=60)
            assert killed.state.current == "KILLED"
            assert killed.task_run_list[0].state.current == "KILLED"


SHORT = """
id: short
namespace: tests.timers
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: "{{ inputs.wait }}"
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: awake
inputs:
  - id: wait
    type: STRING
    defaults: PT0.3S
"""


async def test_a_timer_sleep_renders_its_duration_and_the_flow_goes_on(
    database_url: str,
) -> None:
    config = Config()
    config.database.url = database_url
    async with Engine.open(config=config) as engine:
        await engine.deploy_source(SHORT)
        execution = await engine.create_execution("tests.timers", "short")
        final = await engine.wait_for(execution.id, timeout=60)
        logs = await engine.logs(execution.id)
    assert final.state.current == "SUCCESS"
    nap, after = final.task_run_list
    assert nap.state.current == "SUCCESS" and after.state.current == "SUCCESS"
    assert [h.state for h in nap.attempts[0].state.histories] == ["RUNNING", "SUCCESS"]
    assert "Waiting for PT0.3S" in [entry.message for entry in logs]
