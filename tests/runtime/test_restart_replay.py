"""Restart, replay and kill across subflows, through the real engine."""

from __future__ import annotations

import pytest

from kestrad.runtime.engine import Engine

pytestmark = pytest.mark.anyio

FLAKY = """
id: flaky
namespace: tests.restart
inputs:
  - id: fail
    type: BOOLEAN
    defaults: true
tasks:
  - id: first
    type: io.kestra.plugin.core.debug.Return
    format: "one"
  - id: group
    type: io.kestra.plugin.core.flow.Sequential
    tasks:
      - id: check
        type: io.kestra.plugin.core.execution.Fail
        condition: "{{ FAIL_WHEN }}"
  - id: last
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.first.value }} done"
errors:
  - id: alert
    type: io.kestra.plugin.core.log.Log
    message: failed
"""


def _runs(execution):
    return {run.task_id: run for run in execution.task_run_list}


async def test_restart_after_fixing_the_flow_reruns_only_what_failed() -> None:
    async with Engine.open() as engine:
        await engine.deploy_source(FLAKY.replace("FAIL_WHEN", "inputs.fail"))
        execution = await engine.create_execution("tests.restart", "flaky")
        failed = await engine.wait_for(execution.id)
        assert failed.state.current == "FAILED"
        assert set(_runs(failed)) == {"first", "group", "check", "alert"}
        first_id = _runs(failed)["first"].id

        fixed = await engine.deploy_source(FLAKY.replace("FAIL_WHEN", "false"))
        await engine.restart(execution.id, revision=fixed.revision)
        final = await engine.wait_for(
            execution.id, until=lambda e: e.state.current == "SUCCESS", timeout=30
        )
    runs = _runs(final)
    assert set(runs) == {"first", "group", "check", "last"}, "errors runs are dropped"
    assert runs["first"].id == first_id and len(runs["first"].attempts) == 1
    assert len(runs["check"].attempts) == 2
    assert runs["last"].outputs == {"value": "one done"}
    assert final.metadata.attempt_number == 2
    assert [h.state for h in final.state.histories][-4:] == [
        "FAILED",
        "RESTARTED",
        "RUNNING",
        "SUCCESS",
    ]


async def test_replay_from_a_task_run_copies_what_came_before() -> None:
    async with Engine.open() as engine:
        await engine.deploy_source(FLAKY.replace("FAIL_WHEN", "false"))
        execution = await engine.create_execution("tests.restart", "flaky")
        done = await engine.wait_for(execution.id)
        assert done.state.current == "SUCCESS"
        check = _runs(done)["check"]
        replay = await engine.replay(execution.id, check.id)
        final = await engine.wait_for(replay.id)
    assert final.id != execution.id and final.original_id == execution.id
    assert final.state.current == "SUCCESS"
    runs = _runs(final)
    assert runs["first"].outputs == {"value": "one"} and len(runs["first"].attempts) == 1
    assert runs["check"].id != check.id
    assert runs["check"].parent_task_run_id == runs["group"].id
    assert runs["last"].outputs == {"value": "one done"}


PARENT = """
id: parent
namespace: tests.restart
tasks:
  - id: call
    type: io.kestra.plugin.core.flow.Subflow
    namespace: tests.restart
    flowId: child
"""
CHILD = """
id: child
namespace: tests.restart
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT30S
"""


async def test_killing_a_parent_kills_its_subflow() -> None:
    async with Engine.open() as engine:
        await engine.deploy_source(CHILD)
        await engine.deploy_source(PARENT)
        parent = await engine.create_execution("tests.restart", "parent")
        started = await engine.wait_for(
            parent.id, until=lambda e: bool(e.task_run_list and e.task_run_list[0].outputs)
        )
        child_id = started.task_run_list[0].outputs["executionId"]
        await engine.wait_for(child_id, until=lambda e: e.state.current == "RUNNING")
        await engine.kill(parent.id)
        assert (await engine.wait_for(parent.id)).state.current == "KILLED"
        assert (await engine.wait_for(child_id, timeout=10)).state.current == "KILLED"
