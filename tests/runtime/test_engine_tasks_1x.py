"""Kestra 1.x core tasks through the real engine on both stores: SetVariables,
UnsetVariables, Assert. Each case names the Kestra test it mirrors (kestra-io/kestra,
core/src/test/java/io/kestra/plugin/core/execution/…)."""

from __future__ import annotations

from typing import Any

import pytest

from kestrad.runtime.engine import Engine

pytestmark = pytest.mark.anyio


async def _run(engine: Engine, source: str, **inputs: str) -> Any:
    flow = await engine.deploy_source(source)
    execution = await engine.create_execution(flow.namespace, flow.id, inputs)
    return await engine.wait_for(execution.id, timeout=30)


def _run_of(execution: Any, task_id: str) -> Any:
    return next(run for run in execution.task_run_list if run.task_id == task_id)


VARIABLES = """
id: variables
namespace: tests.v1x
variables:
  name: World
  nested: {a: 1, b: 2}
tasks:
  - id: set
    type: io.kestra.plugin.core.execution.SetVariables
    variables:
      message: Hello
      name: "{{ 'Loïc' }}"
      nested: {c: 3}
  - id: after_set
    type: io.kestra.plugin.core.output.OutputValues
    values:
      text: "{{ vars.message }} {{ vars.name }} {{ vars.nested.a }}{{ vars.nested.c }}"
  - id: unset
    type: io.kestra.plugin.core.execution.UnsetVariables
    variables: [message, nested.a]
  - id: after_unset
    type: io.kestra.plugin.core.output.OutputValues
    values:
      text: "{{ vars.message ??? 'gone' }} {{ vars.nested.a ??? 'gone' }} {{ vars.nested.b }}"
"""


async def test_set_and_unset_variables_are_seen_by_later_tasks(database_url: str) -> None:
    # Kestra: SetVariablesTest#shouldUpdateExecution, UnsetVariablesTest#shouldUpdateExecution
    async with Engine.open(database_url) as engine:
        final = await _run(engine, VARIABLES)
    assert final.state.current == "SUCCESS"
    assert _run_of(final, "after_set").outputs["values"]["text"] == "Hello Loïc 13"
    assert _run_of(final, "after_unset").outputs["values"]["text"] == "gone gone 2"
    assert final.variables == {"name": "Loïc", "nested": {"b": 2, "c": 3}}
    assert not any(run.attempts == [] for run in final.task_run_list)


async def test_set_variables_without_overwrite_fails_on_an_existing_key() -> None:
    # Kestra: SetVariablesTest#shouldFailWhenExistingVariable (a flow variable counts)
    source = """
id: no_overwrite
namespace: tests.v1x
variables:
  name: World
tasks:
  - id: set
    type: io.kestra.plugin.core.execution.SetVariables
    overwrite: false
    variables:
      name: Loïc
  - id: never
    type: io.kestra.plugin.core.log.Log
    message: never
"""
    async with Engine.open() as engine:
        final = await _run(engine, source)
    assert final.state.current == "FAILED"
    assert [run.task_id for run in final.task_run_list] == ["set"]


async def test_unset_variables_of_a_missing_map_fails_unless_ignored() -> None:
    # Kestra: UnsetVariables#removeVar (a missing parent map throws; ignoreMissing skips)
    source = """
id: unset_missing
namespace: tests.v1x
tasks:
  - id: tolerant
    type: io.kestra.plugin.core.execution.UnsetVariables
    ignoreMissing: true
    variables: [nothing.here]
  - id: strict
    type: io.kestra.plugin.core.execution.UnsetVariables
    variables: ["nothing.here"]
"""
    async with Engine.open() as engine:
        final = await _run(engine, source)
    assert _run_of(final, "tolerant").state.current == "SUCCESS"
    assert _run_of(final, "strict").state.current == "FAILED"


async def test_assert_fails_with_the_number_of_false_conditions(database_url: str) -> None:
    # Kestra: AssertTest#dontFailOnCondition / #failOnCondition
    source = """
id: asserting
namespace: tests.v1x
inputs:
  - id: param
    type: STRING
tasks:
  - id: ok
    type: io.kestra.plugin.core.execution.Assert
    conditions: ["{{ inputs.param == 'ok' }}", "{{ 1 + 1 == 2 }}"]
  - id: ko
    type: io.kestra.plugin.core.execution.Assert
    errorMessage: "see {{ inputs.param }}"
    conditions: ["{{ 1 + 1 == 3 }}", "{{ undefined_thing.x }}", "{{ true }}"]
"""
    async with Engine.open(database_url) as engine:
        final = await _run(engine, source, param="ok")
        logs = [entry.message for entry in await engine.store.list_logs(final.id)]
    assert final.state.current == "FAILED"
    assert _run_of(final, "ok").state.current == "SUCCESS"
    assert _run_of(final, "ko").state.current == "FAILED"
    assert any("2 assertions failed!\nsee ok" in line for line in logs)
    assert any("Assertion `{{ 1 + 1 == 3 }}` failed!" in line for line in logs)
