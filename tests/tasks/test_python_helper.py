"""`from kestra import Kestra` in Python script tasks, and the metrics it reports.

Mirrors kestra-io/plugin-scripts `python.ScriptTest.kestraLibs` (outputs of every JSON
type, counters with and without tags, a timer around a call and a timer given in
seconds) without `pip install kestra`: kestrad ships the helper and puts it on the
script's path. The metrics are kept on the task run's attempt in the stored execution
(Kestra's `TaskRunAttempt.metrics`) and served by Kestra's metrics route
(`GET /api/v1/metrics/{executionId}`, MetricController).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from api_support import api_client

from kestrad.config import Config
from kestrad.runtime.engine import Engine
from kestrad.tasks.scripts import find_python

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(find_python() is None, reason="no Python interpreter for scripts"),
]

FLOW = r"""
id: kestra-libs
namespace: company.team
tasks:
  - id: py
    type: io.kestra.plugin.scripts.python.Script
    warningOnStdErr: false  # the logger's ERROR line goes to stderr, as in Kestra
    script: |
      from kestra import Kestra
      import time
      Kestra.outputs({'test': 'value', 'int': 2, 'bool': True, 'float': 3.65})
      Kestra.counter('count', 1, {'tag1': 'i', 'tag2': 'win'})
      Kestra.counter('count2', 2)
      Kestra.timer('timer1', lambda: time.sleep(0.05), {'tag1': 'i', 'tag2': 'lost'})
      Kestra.timer('timer2', 2.12, {'tag1': 'i', 'tag2': 'destroy'})
      with open('items.jsonl', 'w') as f:
          f.write('{"a": 1}\n\n{"a": 2}\n')
      assert Kestra.read('items.jsonl') == [{'a': 1}, {'a': 2}]
      Kestra.logger().info('from the logger')
      Kestra.logger().error('an error line')
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: "{{ outputs.py.vars.float }} {{ outputs.py.vars.bool }}"
"""


async def test_kestra_helper_outputs_metrics_and_logs(database_url: str, tmp_path: Path) -> None:
    config = Config()
    config.storage.path = str(tmp_path / "storage")
    async with Engine.open(database_url, config=config) as engine:
        flow = await engine.deploy_source(FLOW)
        created = await engine.create_execution(flow.namespace, flow.id)
        await engine.wait_for(created.id, timeout=60)
        execution = await engine.store.get_execution(created.id)  # as stored
        logs = await engine.store.list_logs(created.id, after=0)
        async with api_client(engine) as client:
            listed = (await client.get(f"/api/v1/main/metrics/{created.id}")).json()
            only_py = (await client.get(f"/api/v1/metrics/{created.id}?taskId=after")).json()
            missing = await client.get("/api/v1/metrics/nope")

    assert execution.state.current == "SUCCESS", [e.message for e in logs]
    run = next(r for r in execution.task_run_list if r.task_id == "py")
    assert run.outputs["vars"] == {"test": "value", "int": 2, "bool": True, "float": 3.65}
    metrics = {m.name: m for m in run.attempts[-1].metrics}
    assert (metrics["count"].type, metrics["count"].value) == ("counter", 1.0)
    assert metrics["count"].tags == {"tag1": "i", "tag2": "win"}
    assert (metrics["count2"].value, metrics["count2"].tags) == (2.0, {})
    assert metrics["timer1"].type == "timer" and metrics["timer1"].value >= 0.05
    assert metrics["timer1"].tags == {"tag1": "i", "tag2": "lost"}
    assert metrics["timer2"].value == 2.12
    by_task = {(e.task_id, e.level): e.message for e in logs}
    assert by_task[("py", "INFO")].endswith(" - from the logger")
    assert by_task[("py", "ERROR")].endswith(" - an error line")
    assert by_task[("after", "INFO")] == "3.65 true"

    assert listed["total"] == 4
    entry = next(e for e in listed["results"] if e["name"] == "count")
    assert entry == {
        "namespace": "company.team",
        "flowId": "kestra-libs",
        "taskId": "py",
        "executionId": created.id,
        "taskRunId": run.id,
        "name": "count",
        "type": "counter",
        "value": 1.0,
        "tags": {"tag1": "i", "tag2": "win"},
        "timestamp": entry["timestamp"],
    }
    assert only_py == {"results": [], "total": 0}
    assert missing.status_code == 404


async def test_malformed_metric_lines_are_logged_not_kept(tmp_path: Path) -> None:
    source = FLOW.split("  - id: after")[0].replace(
        "from kestra import Kestra\n",
        "from kestra import Kestra\n"
        """      print('::{"metrics": [{"name": "x", "type": "gauge", "value": 1}]}::')\n""",
    )
    config = Config()
    config.storage.path = str(tmp_path / "storage")
    async with Engine.open(config=config) as engine:
        flow = await engine.deploy_source(source)
        created = await engine.create_execution(flow.namespace, flow.id)
        execution = await engine.wait_for(created.id, timeout=60)
        logs = await engine.store.list_logs(created.id, after=0)
    assert execution.state.current == "SUCCESS"
    run = next(r for r in execution.task_run_list if r.task_id == "py")
    assert "x" not in {m.name for m in run.attempts[-1].metrics}
    assert any(e.message.startswith("ignored a malformed metric") for e in logs)


async def test_metrics_of_a_working_directory_child_are_kept_on_its_run(tmp_path: Path) -> None:
    source = """
id: wd-metrics
namespace: company.team
tasks:
  - id: wd
    type: io.kestra.plugin.core.flow.WorkingDirectory
    tasks:
      - id: py
        type: io.kestra.plugin.scripts.python.Script
        script: |
          from kestra import Kestra
          Kestra.counter('rows', 7, {'table': 'users'})
"""
    config = Config()
    config.storage.path = str(tmp_path / "storage")
    async with Engine.open(config=config) as engine:
        flow = await engine.deploy_source(source)
        created = await engine.create_execution(flow.namespace, flow.id)
        execution = await engine.wait_for(created.id, timeout=60)
    assert execution.state.current == "SUCCESS"
    run = next(r for r in execution.task_run_list if r.task_id == "py")
    [metric] = run.attempts[-1].metrics
    assert (metric.name, metric.value, metric.tags) == ("rows", 7.0, {"table": "users"})
