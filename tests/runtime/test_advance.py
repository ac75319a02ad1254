"""`advance` on its own: the executor's pure state machine, driven by hand-made events."""

from __future__ import annotations

from typing import Any

import pytest

from kestrad.expr.engine import Renderer
from kestrad.flows.loader import load_flow
from kestrad.model.execution import Execution
from kestrad.model.messages import Kill, PauseRequest, Resume, RetryDue, TaskResult, Wake
from kestrad.model.state import History, now_iso
from kestrad.runtime.advance import AdvanceEnv, AdvanceResult, advance


def _flow(source: str) -> Any:
    flow = load_flow(source)
    flow.revision = 1
    return flow


def _start(flow: Any) -> tuple[Execution, AdvanceResult, AdvanceEnv]:
    env = AdvanceEnv(Renderer())
    execution = Execution.new(namespace=flow.namespace, flow_id=flow.id, flow_revision=1)
    return execution, advance(execution, flow, [Wake()], env), env


def _finish(job: Any, state: str = "SUCCESS", outputs: dict[str, Any] | None = None) -> TaskResult:
    return TaskResult(
        task_run_id=job.task_run_id,
        attempt=job.attempt,
        state=state,
        histories=[History(state="RUNNING", date=now_iso()), History(state=state, date=now_iso())],
        outputs=outputs,
    )


def _states(execution: Execution) -> dict[str, str]:
    return {run.task_id: run.state.current for run in execution.task_run_list}


SEQUENTIAL = """
id: seq
namespace: tests
tasks:
  - id: a
    type: io.kestra.plugin.core.debug.Return
    format: one
  - id: b
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.a.value }} two"
"""


def test_sequential_tasks_run_one_after_the_other() -> None:
    flow = _flow(SEQUENTIAL)
    execution, first, env = _start(flow)
    assert execution.state.current == "RUNNING"
    assert [j.task_id for j in first.jobs] == ["a"]
    second = advance(execution, flow, [_finish(first.jobs[0], outputs={"value": "one"})], env)
    assert [j.task_id for j in second.jobs] == ["b"]
    # the worker job carries the outputs the task refers to, and only those
    assert second.jobs[0].variables["outputs"] == {"a": {"value": "one"}}
    third = advance(execution, flow, [_finish(second.jobs[0])], env)
    assert third.ended and execution.state.current == "SUCCESS"
    assert execution.state.has("CREATED") and execution.state.has("RUNNING")


def test_a_duplicate_result_changes_nothing() -> None:
    flow = _flow(SEQUENTIAL)
    execution, first, env = _start(flow)
    result = _finish(first.jobs[0], outputs={"value": "one"})
    advance(execution, flow, [result], env)
    again = advance(execution, flow, [result], env)
    assert again.jobs == [] and len(execution.task_run_list) == 2


PARALLEL_FAIL = """
id: par
namespace: tests
tasks:
  - id: p
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: ok
        type: io.kestra.plugin.core.debug.Return
        format: fine
      - id: ko
        type: io.kestra.plugin.core.execution.Fail
errors:
  - id: handler
    type: io.kestra.plugin.core.log.Log
    message: handled
"""


def test_failure_runs_errors_and_ends_failed() -> None:
    flow = _flow(PARALLEL_FAIL)
    execution, first, env = _start(flow)
    assert sorted(j.task_id for j in first.jobs) == ["ko", "ok"]
    jobs = {j.task_id: j for j in first.jobs}
    after = advance(execution, flow, [_finish(jobs["ok"]), _finish(jobs["ko"], "FAILED")], env)
    assert [j.task_id for j in after.jobs] == ["handler"]
    end = advance(execution, flow, [_finish(after.jobs[0])], env)
    assert end.ended and execution.state.current == "FAILED"
    assert _states(execution) == {
        "p": "FAILED",
        "ok": "SUCCESS",
        "ko": "FAILED",
        "handler": "SUCCESS",
    }


FOREACH = """
id: loop
namespace: tests
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: "{{ range(1, 3) }}"
    concurrencyLimit: 0
    tasks:
      - id: out
        type: io.kestra.plugin.core.debug.Return
        format: "{{ taskrun.value }}"
"""


def test_foreach_children_carry_their_value_and_nest_outputs() -> None:
    flow = _flow(FOREACH)
    execution, first, env = _start(flow)
    assert sorted(j.variables["taskrun"]["value"] for j in first.jobs) == ["1", "2", "3"]
    results = [_finish(j, outputs={"value": j.variables["taskrun"]["value"]}) for j in first.jobs]
    end = advance(execution, flow, results, env)
    assert end.ended and execution.state.current == "SUCCESS"
    from kestrad.runtime.variables import ExecutionIndex, task_outputs

    assert task_outputs(ExecutionIndex(execution), "out") == {
        "1": {"value": "1"},
        "2": {"value": "2"},
        "3": {"value": "3"},
    }


RETRY = """
id: retry
namespace: tests
tasks:
  - id: flaky
    type: io.kestra.plugin.core.execution.Fail
    retry:
      type: constant
      interval: PT1S
      maxAttempt: 2
"""


def test_retry_waits_then_runs_a_new_attempt_then_fails() -> None:
    flow = _flow(RETRY)
    execution, first, env = _start(flow)
    retrying = advance(execution, flow, [_finish(first.jobs[0], "FAILED")], env)
    assert execution.state.current == "RETRYING" and retrying.jobs == []
    assert len(retrying.delayed) == 1 and isinstance(retrying.delayed[0].event, RetryDue)
    second = advance(execution, flow, [retrying.delayed[0].event], env)
    assert [j.attempt for j in second.jobs] == [2]
    end = advance(execution, flow, [_finish(second.jobs[0], "FAILED")], env)
    assert end.ended and execution.state.current == "FAILED"
    assert len(execution.task_run_list[0].attempts) == 2


PAUSE = """
id: pause
namespace: tests
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: resumed
"""


def test_pause_waits_for_resume() -> None:
    flow = _flow(PAUSE)
    execution, first, env = _start(flow)
    assert execution.state.current == "PAUSED" and first.jobs == []
    resumed = advance(execution, flow, [Resume()], env)
    assert [j.task_id for j in resumed.jobs] == ["after"]


def test_kill_ends_killed() -> None:
    flow = _flow(SEQUENTIAL)
    execution, _first, env = _start(flow)
    end = advance(execution, flow, [Kill()], env)
    assert end.ended and execution.state.current == "KILLED"
    assert _states(execution) == {"a": "KILLED"}


RUN_IF = """
id: runif
namespace: tests
tasks:
  - id: skipped
    type: io.kestra.plugin.core.log.Log
    message: never
    runIf: "{{ 1 == 2 }}"
  - id: broken
    type: io.kestra.plugin.core.log.Log
    message: never
    runIf: "{{ nope.nope }}"
"""


def test_run_if_skips_and_an_expression_error_fails_only_the_task() -> None:
    flow = _flow(RUN_IF)
    execution, first, _env = _start(flow)
    assert first.jobs == []
    assert _states(execution) == {"skipped": "SKIPPED", "broken": "FAILED"}
    assert execution.state.current == "FAILED"
    assert any("nope" in record.message for record in first.logs)


@pytest.mark.parametrize("condition,branch", [("true", "yes"), ("0", "no"), ("false", "no")])
def test_if_follows_kestra_truthiness(condition: str, branch: str) -> None:
    flow = _flow(
        f"""
id: branch
namespace: tests
tasks:
  - id: test
    type: io.kestra.plugin.core.flow.If
    condition: "{condition}"
    then:
      - id: "yes"
        type: io.kestra.plugin.core.log.Log
        message: y
    else:
      - id: "no"
        type: io.kestra.plugin.core.log.Log
        message: n
"""
    )
    _execution, first, _env = _start(flow)
    assert [j.task_id for j in first.jobs] == [branch]


def test_an_operators_pause_lets_running_tasks_end_and_starts_nothing_until_resumed() -> None:
    """Kestra's `executions/{id}/actions/pause` (ExecutionControllerTest#pause)."""
    flow = _flow(SEQUENTIAL)
    execution, first, env = _start(flow)
    paused = advance(execution, flow, [PauseRequest()], env)
    assert execution.state.current == "PAUSED" and paused.jobs == []
    finished = advance(execution, flow, [_finish(first.jobs[0], outputs={"value": "one"})], env)
    assert _states(execution) == {"a": "SUCCESS"} and finished.jobs == []
    assert execution.state.current == "PAUSED"
    resumed = advance(execution, flow, [Resume()], env)
    assert execution.state.current == "RUNNING"
    assert [j.task_id for j in resumed.jobs] == ["b"]
    again = advance(execution, flow, [_finish(resumed.jobs[0])], env)
    assert again.ended and execution.state.current == "SUCCESS"


def test_a_pause_request_for_an_ended_execution_changes_nothing() -> None:
    flow = _flow(SEQUENTIAL)
    execution, _first, env = _start(flow)
    advance(execution, flow, [Kill()], env)
    advance(execution, flow, [PauseRequest()], env)
    assert execution.state.current == "KILLED"
