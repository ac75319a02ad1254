"""Typed properties written as expressions: checked once rendered, failing the task run
with the property's name (Kestra's `Property<T>.as(runContext, T)`; e.g. Sleep's
`duration`, `SleepTest`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tasks_support import messages, run_flow, run_of, running_engine

pytestmark = pytest.mark.anyio

FLOW = """
id: typed
namespace: company.team
inputs:
  - id: wait
    type: JSON
    defaults: '[1, 2]'
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: "{{ inputs.wait }}"
  - id: never
    type: io.kestra.plugin.core.log.Log
    message: not reached
"""


async def test_an_expression_rendering_to_a_non_duration_fails_the_run_by_name(
    tmp_path: Path,
) -> None:
    async with running_engine(tmp_path) as engine:
        execution, logs = await run_flow(engine, FLOW)
    assert execution.state.current == "FAILED"
    assert run_of(execution, "nap").state.current == "FAILED"
    [error] = messages(logs, "nap", "ERROR")
    assert error.startswith("`duration` must be an ISO-8601 duration")
    assert "[1, 2]" in error


async def test_an_expression_rendering_to_a_duration_runs(tmp_path: Path) -> None:
    source = FLOW.replace("'[1, 2]'", '"\\"PT0.01S\\""')
    async with running_engine(tmp_path) as engine:
        execution, _ = await run_flow(engine, source)
    assert execution.state.current == "SUCCESS"
