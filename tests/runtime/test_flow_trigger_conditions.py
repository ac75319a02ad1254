"""Flow triggers with Expression and date conditions, evaluated on the upstream execution."""

from __future__ import annotations

import anyio
import pytest

from kestrad.runtime.engine import Engine

pytestmark = pytest.mark.anyio

UPSTREAM = """
id: upstream
namespace: tests.flowcond
inputs:
  - id: size
    type: INT
tasks:
  - id: measure
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.size }}"
"""
LISTENER = """
id: listener
namespace: tests.flowcond
inputs:
  - id: size
    type: STRING
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "big: {{ inputs.size }}"
triggers:
  - id: on-big
    type: io.kestra.plugin.core.trigger.Flow
    inputs:
      size: "{{ outputs.measure.value }}"
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionFlow
        namespace: tests.flowcond
        flowId: upstream
      - type: io.kestra.plugin.core.condition.Expression
        expression: "{{ outputs.measure.value | number > 10 }}"
      - type: io.kestra.plugin.core.condition.DateTimeBetween
        after: "2000-01-01T00:00:00Z"
      - type: io.kestra.plugin.core.condition.Not
        conditions:
          - type: io.kestra.plugin.core.condition.DateTimeBetween
            before: "2000-01-01T00:00:00Z"
"""


async def _listener_runs(engine: Engine, upstream_id: str) -> list:
    return [
        e
        for e in await engine.list_executions("tests.flowcond", "listener")
        if e.trigger and e.trigger.variables.get("executionId") == upstream_id
    ]


async def test_expression_and_date_conditions_decide_the_flow_trigger() -> None:
    async with Engine.open() as engine:
        await engine.deploy_source(UPSTREAM)
        await engine.deploy_source(LISTENER)
        small = await engine.create_execution("tests.flowcond", "upstream", {"size": "3"})
        big = await engine.create_execution("tests.flowcond", "upstream", {"size": "42"})
        await engine.wait_for(small.id)
        await engine.wait_for(big.id)
        with anyio.fail_after(10):
            while not await _listener_runs(engine, big.id):
                await anyio.sleep(0.05)
        fired = (await _listener_runs(engine, big.id))[0]
        final = await engine.wait_for(fired.id)
        assert final.inputs == {"size": "42"}
        assert final.state.current == "SUCCESS"
        assert await _listener_runs(engine, small.id) == []
