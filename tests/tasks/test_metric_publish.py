"""metric.Publish: the example of Kestra's `Publish` task (a timer `PT10M` and a counter
42 tagged with the flow id), kept on the task run like a script's metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
from tasks_support import messages, run_flow, run_of, running_engine

from kestrad.flows.loader import FlowLoadError, load_flow

pytestmark = pytest.mark.anyio

FLOW = """
id: publish_metrics
namespace: company.team
tasks:
  - id: metric
    type: io.kestra.plugin.core.metric.Publish
    metrics:
      - type: timer
        name: duration
        value: PT10M
        tags:
          flow: "{{ flow.id }}"
          project: kestra
      - type: counter
        name: number
        value: "{{ 40 + 2 }}"
        tags:
          flow: "{{ flow.id }}"
"""


async def test_publish_records_counters_and_timers(tmp_path: Path) -> None:
    async with running_engine(tmp_path) as engine:
        execution, _ = await run_flow(engine, FLOW)
    assert execution.state.current == "SUCCESS"
    metrics = {m.name: m for m in run_of(execution, "metric").attempts[-1].metrics}
    assert (metrics["duration"].type, metrics["duration"].value) == ("timer", 600.0)
    assert metrics["duration"].tags == {"flow": "publish_metrics", "project": "kestra"}
    assert (metrics["number"].type, metrics["number"].value) == ("counter", 42.0)


async def test_a_value_that_is_not_a_number_fails_the_run_by_name(tmp_path: Path) -> None:
    source = FLOW.replace('"{{ 40 + 2 }}"', "\"{{ 'many' }}\"")
    async with running_engine(tmp_path) as engine:
        execution, logs = await run_flow(engine, source)
    assert run_of(execution, "metric").state.current == "FAILED"
    assert messages(logs, "metric", "ERROR") == ["`metrics[1].value` must be a number, got `many`"]


def test_an_unknown_metric_type_is_refused_at_load() -> None:
    with pytest.raises(FlowLoadError) as info:
        load_flow(FLOW.replace("type: counter", "type: gauge"), file="m.yml")
    assert str(info.value).startswith("m.yml:14:15: ")
    assert "tasks[0].metrics[1].type" in str(info.value)
