"""Core runnable and executor-side tasks through the real engine: Exit, Labels, timeout,
expression errors, Pause and resume."""

from __future__ import annotations

import pytest

from kestrad.runtime.engine import Engine

pytestmark = pytest.mark.anyio


async def _run(engine: Engine, source: str, **inputs: str):
    flow = await engine.deploy_source(source)
    execution = await engine.create_execution(flow.namespace, flow.id, inputs)
    return await engine.wait_for(execution.id, timeout=30)


async def test_exit_ends_the_execution_in_the_requested_state() -> None:
    source = """
id: leave
namespace: tests.tasks
tasks:
  - id: stop
    type: io.kestra.plugin.core.execution.Exit
    state: WARNING
  - id: never
    type: io.kestra.plugin.core.log.Log
    message: unreachable
"""
    async with Engine.open() as engine:
        final = await _run(engine, source)
    assert final.state.current == "WARNING"
    assert [run.task_id for run in final.task_run_list] == ["stop"]


async def test_labels_task_updates_execution_labels() -> None:
    source = """
id: labelled
namespace: tests.tasks
labels:
  team: data
tasks:
  - id: tag
    type: io.kestra.plugin.core.execution.Labels
    labels:
      stage: "{{ 'prod' }}"
      team: platform
"""
    async with Engine.open() as engine:
        final = await _run(engine, source)
    labels = final.label_map()
    assert final.state.current == "SUCCESS"
    assert labels["stage"] == "prod" and labels["team"] == "platform"
    assert labels["system.correlationId"] == final.id


async def test_task_timeout_fails_the_attempt() -> None:
    source = """
id: slow
namespace: tests.tasks
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT10S
    timeout: PT0.2S
"""
    async with Engine.open() as engine:
        final = await _run(engine, source)
        logs = await engine.logs(final.id)
    assert final.state.current == "FAILED"
    assert any("Timeout" in entry.message for entry in logs)


async def test_an_expression_error_fails_the_task_and_logs_the_expression() -> None:
    source = """
id: broken-expression
namespace: tests.tasks
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "{{ inputs.missing.field }}"
"""
    async with Engine.open() as engine:
        final = await _run(engine, source)
        logs = await engine.logs(final.id)
    assert final.state.current == "FAILED"
    errors = [e.message for e in logs if e.level == "ERROR" and e.task_id == "say"]
    assert errors and "inputs.missing.field" in errors[0]


async def test_pause_waits_for_a_person_then_resumes() -> None:
    source = """
id: approval
namespace: tests.tasks
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: approved
"""
    async with Engine.open() as engine:
        flow = await engine.deploy_source(source)
        execution = await engine.create_execution(flow.namespace, flow.id)
        paused = await engine.wait_for(execution.id, until=lambda e: e.state.current == "PAUSED")
        assert {r.task_id: r.state.current for r in paused.task_run_list} == {"wait": "PAUSED"}
        await engine.resume(execution.id)
        final = await engine.wait_for(execution.id)
    assert final.state.current == "SUCCESS"
    assert [h.state for h in final.state.histories] == [
        "CREATED",
        "RUNNING",
        "PAUSED",
        "RUNNING",
        "SUCCESS",
    ]
