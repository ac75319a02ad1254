"""log.Fetch, log.PurgeLogs, execution.Count, execution.PurgeExecutions, trigger.Toggle."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from tasks_support import messages, run_flow, run_of, running_engine, storage

from kestrad.store.base import TriggerRow

pytestmark = pytest.mark.anyio

LOGS = """
id: chatty
namespace: company.team
tasks:
  - id: one
    type: io.kestra.plugin.core.log.Log
    message: first
  - id: two
    type: io.kestra.plugin.core.log.Log
    level: ERROR
    message: [second, third]
  - id: debug
    type: io.kestra.plugin.core.log.Log
    level: DEBUG
    message: quiet
"""


async def test_fetch_filters_by_task_and_level_and_writes_json_lines(tmp_path: Path) -> None:
    fetch = """
id: fetcher
namespace: company.team
inputs:
  - id: execution
    type: STRING
tasks:
  - id: all
    type: io.kestra.plugin.core.log.Fetch
    executionId: "{{ inputs.execution }}"
  - id: errors
    type: io.kestra.plugin.core.log.Fetch
    executionId: "{{ inputs.execution }}"
    level: ERROR
  - id: by_task
    type: io.kestra.plugin.core.log.Fetch
    executionId: "{{ inputs.execution }}"
    tasksId: [one, debug]
    level: DEBUG
"""
    async with running_engine(tmp_path) as engine:
        chatty, _ = await run_flow(engine, LOGS)
        await engine.deploy_source(fetch)
        created = await engine.create_execution("company.team", "fetcher", {"execution": chatty.id})
        execution = await engine.wait_for(created.id)
        assert execution.state.current == "SUCCESS"
        assert run_of(execution, "all").outputs["size"] == 3
        assert run_of(execution, "errors").outputs["size"] == 2
        by_task = run_of(execution, "by_task").outputs
        assert by_task["size"] == 2
        lines = storage().get(by_task["uri"]).decode().splitlines()
        assert [json.loads(line)["message"] for line in lines] == ["first", "quiet"]
        assert json.loads(lines[0])["executionId"] == chatty.id


async def test_count_and_purge_executions_with_their_logs_and_files(tmp_path: Path) -> None:
    count = """
id: counter
namespace: company.ops
tasks:
  - id: count
    type: io.kestra.plugin.core.execution.Count
    startDate: "{{ now() | dateAdd(-1, 'HOURS') }}"
    expression: "{{ count >= 2 }}"
    flows:
      - namespace: company.team
        flowId: chatty
      - namespace: company.team
        flowId: never-ran
  - id: silent
    type: io.kestra.plugin.core.execution.Count
    startDate: "{{ now() | dateAdd(-1, 'HOURS') }}"
    expression: "{{ count == 0 }}"
    flows:
      - namespace: company.team
        flowId: never-ran
  - id: by_namespace
    type: io.kestra.plugin.core.execution.Count
    startDate: "2000-01-01T00:00:00Z"
    states: [SUCCESS]
    namespaces: [company.team]
    expression: "{{ count > 0 }}"
"""
    purge = """
id: purger
namespace: company.ops
tasks:
  - id: purge
    type: io.kestra.plugin.core.execution.PurgeExecutions
    namespace: company.team
    endDate: "{{ now() }}"
    batchSize: 1
"""
    async with running_engine(tmp_path) as engine:
        first, _ = await run_flow(engine, LOGS)
        second, _ = await run_flow(engine, LOGS)
        leftover = storage().put(
            f"kestra:///company/team/chatty/executions/{first.id}/tasks/x/y/file.txt", b"x"
        )
        counted, _ = await run_flow(engine, count)
        assert counted.state.current == "SUCCESS"
        assert run_of(counted, "count").outputs == {
            "results": [{"namespace": "company.team", "flowId": "chatty", "count": 2}],
            "total": 2,
        }
        assert run_of(counted, "silent").outputs["results"] == [
            {"namespace": "company.team", "flowId": "never-ran", "count": 0}
        ]
        assert run_of(counted, "by_namespace").outputs["total"] == 2

        purged, _ = await run_flow(engine, purge)
        assert purged.state.current == "SUCCESS"
        out = run_of(purged, "purge").outputs
        assert out["executionsCount"] == 2
        assert out["logsCount"] == 8  # four lines per run, DEBUG included
        assert out["storagesCount"] >= 1
        assert await engine.get_execution(first.id) is None
        assert await engine.get_execution(second.id) is None
        assert await engine.logs(first.id) == []
        assert not storage().exists(leftover)
        # Executions of other namespaces stay.
        assert await engine.get_execution(counted.id) is not None


async def test_purge_logs_by_level_and_flow(tmp_path: Path) -> None:
    purge = """
id: log-purger
namespace: company.ops
tasks:
  - id: purge
    type: io.kestra.plugin.core.log.PurgeLogs
    namespace: company.team
    flowId: chatty
    logLevels: [ERROR]
    endDate: "{{ now() }}"
"""
    async with running_engine(tmp_path) as engine:
        chatty, _ = await run_flow(engine, LOGS)
        purged, _ = await run_flow(engine, purge)
        assert run_of(purged, "purge").outputs["count"] == 2
        assert messages(await engine.logs(chatty.id)) == ["first", "quiet"]


async def test_toggle_trigger_without_scheduler(tmp_path: Path) -> None:
    toggle = """
id: toggler
namespace: company.ops
tasks:
  - id: off
    type: io.kestra.plugin.core.trigger.Toggle
    namespace: company.team
    flowId: scheduled
    trigger: hourly
  - id: missing
    type: io.kestra.plugin.core.trigger.Toggle
    namespace: company.team
    flowId: scheduled
    trigger: nope
    enabled: true
"""
    async with running_engine(tmp_path) as engine:
        row = TriggerRow(
            namespace="company.team",
            flow_id="scheduled",
            trigger_id="hourly",
            next_fire_at=time.time() + 3600,
            updated=time.time(),
        )
        await engine.store.save_trigger_states([row], [])
        execution, logs = await run_flow(engine, toggle)
        assert run_of(execution, "off").state.current == "SUCCESS"
        stored = await engine.store.get_trigger("company.team", "scheduled", "hourly")
        assert stored.disabled is True and stored.updated > row.updated
        assert run_of(execution, "missing").state.current == "FAILED"
        assert any("Unable to find trigger 'nope'" in m for m in messages(logs, "missing"))


async def test_toggle_goes_through_a_running_scheduler(tmp_path: Path) -> None:
    """With a scheduler running in the process, Toggle changes its in-memory index (the
    store follows at its next flush) instead of writing a row the index would overwrite."""
    from kestrad.runtime.scheduler import Scheduler

    toggle = """
id: toggler
namespace: company.team
tasks:
  - id: on
    type: io.kestra.plugin.core.trigger.Toggle
    trigger: hourly
    enabled: "{{ true }}"
triggers:
  - id: hourly
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 * * * *"
"""
    key = ("company.team", "toggler", "hourly")
    async with running_engine(tmp_path) as engine:
        flow = await engine.deploy_source(toggle)
        scheduler = Scheduler(engine.store, engine.flows, renderer=engine.renderer)
        await scheduler.start()
        assert scheduler.set_disabled(key, True)
        await scheduler.flush()
        engine.scheduler = scheduler
        execution = await engine.create_execution(flow.namespace, flow.id)
        final = await engine.wait_for(execution.id, timeout=60)
        assert final.state.current == "SUCCESS"
        assert scheduler.state(key).disabled is False
        assert (await engine.store.get_trigger(*key)).disabled is True  # not flushed yet
        await scheduler.flush()
        assert (await engine.store.get_trigger(*key)).disabled is False


async def test_resume_task_resumes_another_paused_execution() -> None:
    from kestrad.runtime.engine import Engine

    waiting = """
id: waiting
namespace: tests.resume
tasks:
  - id: hold
    type: io.kestra.plugin.core.flow.Pause
  - id: done
    type: io.kestra.plugin.core.log.Log
    message: "resumed with {{ outputs.hold.onResume.reason }}"
"""
    resumer = """
id: resumer
namespace: tests.resume
inputs:
  - id: target
    type: STRING
tasks:
  - id: go
    type: io.kestra.plugin.core.execution.Resume
    flowId: waiting
    executionId: "{{ inputs.target }}"
    inputs:
      reason: approved
"""
    async with Engine.open() as engine:
        await engine.deploy_source(waiting)
        await engine.deploy_source(resumer)
        paused = await engine.create_execution("tests.resume", "waiting")
        await engine.wait_for(paused.id, until=lambda e: e.state.current == "PAUSED")
        run = await engine.create_execution("tests.resume", "resumer", {"target": paused.id})
        assert (await engine.wait_for(run.id)).state.current == "SUCCESS"
        final = await engine.wait_for(paused.id)
        logs = [entry.message for entry in await engine.logs(paused.id)]
        again = await engine.create_execution("tests.resume", "resumer", {"target": paused.id})
        failed = await engine.wait_for(again.id)
    assert final.state.current == "SUCCESS"
    assert "resumed with approved" in logs
    assert failed.state.current == "FAILED", "resuming an execution that is not paused fails"
