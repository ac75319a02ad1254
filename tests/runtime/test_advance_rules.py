"""`advance` under the rules: retries and their delays, kill, resume, restart, timeouts,
runIf, allowFailure / allowWarning, errors / finally / afterExecution, SLAs, Exit, Labels
and Subflows, driven by the scenario harness with a fake clock.

Where a case mirrors one of Kestra's own tests, the Java test is named in a comment
(kestra-io/kestra, core/src/test/java/io/kestra/…).
"""

from __future__ import annotations

import textwrap

import pytest
from scenario import Scenario

from kestrad.flows.loader import FlowLoadError
from kestrad.model.execution import Label, encode_execution
from kestrad.model.messages import Kill, RetryDue, SlaDue

LOG = "io.kestra.plugin.core.log.Log"
RETURN = "io.kestra.plugin.core.debug.Return"
FAIL = "io.kestra.plugin.core.execution.Fail"
FLOW = "io.kestra.plugin.core.flow"


def _flow(tasks: str, extra: str = "", flow_id: str = "f") -> str:
    return f"id: {flow_id}\nnamespace: tests.rules\n{extra}tasks:\n{tasks}"


def _retried(retry: str, after: str = "") -> str:
    return _flow(
        f"""
  - id: flaky
    type: {FAIL}
    retry:
{retry}
{after}"""
    )


# -- retry ------------------------------------------------------------------------------------
CONSTANT = """      type: constant
      interval: PT30S
      maxAttempt: 3"""


def test_constant_retry_waits_its_interval_between_attempts_then_fails() -> None:
    # Kestra: RetryCaseTest.retryFailed (maxAttempt counts every attempt)
    s = Scenario(_retried(CONSTANT))
    s.start()
    s.finish("flaky", "FAILED", took=2)
    assert s.state("flaky") == "RETRYING" and s.state_now == "RETRYING"
    assert s.due_in() == [(30.0, "RetryDue")] and s.jobs == []
    assert "Attempt 1 failed; retrying in 30s" in s.messages("WARN")
    assert s.tick(29) is None
    s.tick(1)
    assert s.state("flaky") == "CREATED" and s.state_now == "RUNNING"
    assert [j.attempt for j in s.jobs] == [2]
    s.finish("flaky", "FAILED")
    s.tick(30)
    s.finish("flaky", "FAILED")
    assert s.state_now == "FAILED" and s.pending == []
    assert len(s.run("flaky").attempts) == 3
    assert s.history("flaky").count("RETRYING") == 2


def test_max_attempts_is_kestra_1x_name_and_wins_over_the_deprecated_one() -> None:
    # Kestra 1.x: RetryCaseTest.retryFailed with `maxAttempts: 3` (retry-failed.yaml)
    s = Scenario(_retried("      type: constant\n      interval: PT1S\n      maxAttempts: 2"))
    s.start()
    s.finish("flaky", "FAILED")
    s.tick(1)
    s.finish("flaky", "FAILED")
    assert s.state_now == "FAILED" and len(s.run("flaky").attempts) == 2
    both = "      type: constant\n      interval: PT1S\n      maxAttempts: 1\n      maxAttempt: 5"
    s = Scenario(_retried(both))
    s.start()
    s.finish("flaky", "FAILED")
    assert s.state_now == "FAILED" and len(s.run("flaky").attempts) == 1


def test_exponential_retry_doubles_its_delay() -> None:
    # Kestra: RetryCaseTest.retryExpo
    s = Scenario(
        _retried(
            """      type: exponential
      interval: PT1S
      maxInterval: PT10S
      delayFactor: 2
      maxAttempt: 5"""
        )
    )
    s.start()
    delays = []
    for _ in range(4):
        s.finish("flaky", "FAILED")
        delays.append(s.due_in()[0][0])
        s.tick(delays[-1])
    assert delays == [1.0, 2.0, 4.0, 8.0]
    s.finish("flaky", "FAILED")
    assert s.state_now == "FAILED" and len(s.run("flaky").attempts) == 5


def test_retry_stops_when_the_next_attempt_would_pass_max_duration() -> None:
    # Kestra: RetryCaseTest.retryFailedTaskDuration
    s = Scenario(
        _retried(
            """      type: constant
      interval: PT10S
      maxDuration: PT25S"""
        )
    )
    s.start()
    s.finish("flaky", "FAILED", took=5)  # next attempt at 15 s: allowed
    s.tick(10)
    s.finish("flaky", "FAILED", took=5)  # 25 s + 10 s > 25 s: no more
    assert s.state_now == "FAILED" and len(s.run("flaky").attempts) == 2


def test_success_after_a_retry_is_a_warning_with_warning_on_retry() -> None:
    # Kestra: RetryCaseTest.retrySuccess (WARNING once it succeeded on a later attempt)
    s = Scenario(_retried(CONSTANT + "\n      warningOnRetry: true"))
    s.start()
    s.finish("flaky", "FAILED")
    s.tick(30)
    s.finish("flaky", "SUCCESS")
    assert s.state("flaky") == "WARNING" and s.state_now == "WARNING"


def test_a_child_uses_its_parent_flowables_retry_then_the_flows() -> None:
    # Kestra: RetryCaseTest.retryFlowableChild
    s = Scenario(
        _flow(
            f"""
  - id: group
    type: {FLOW}.Sequential
    retry:
      type: constant
      interval: PT5S
      maxAttempt: 2
    tasks:
      - id: inner
        type: {FAIL}
  - id: plain
    type: {FAIL}
""",
            "retry:\n  type: constant\n  interval: PT7S\n  maxAttempt: 2\n",
        )
    )
    s.start()
    s.finish("inner", "FAILED")
    assert s.due_in() == [(5.0, "RetryDue")], "the Sequential's policy"
    s.tick(5)
    s.finish("inner", "FAILED")
    assert s.state("group") == "FAILED" and s.state_now == "FAILED"
    t = Scenario(
        _flow(
            f"  - id: plain\n    type: {FAIL}\n",
            "retry:\n  type: constant\n  interval: PT7S\n  maxAttempt: 2\n",
        )
    )
    t.start()
    t.finish("plain", "FAILED")
    assert t.due_in() == [(7.0, "RetryDue")], "the flow's policy"


def test_create_new_execution_ends_this_one_retried_and_starts_another_later() -> None:
    # Kestra: RetryCaseTest.retryNewExecutionTaskAttempts (RETRIED, RETRIED, FAILED)
    source = _retried(CONSTANT + "\n      behavior: CREATE_NEW_EXECUTION")
    s = Scenario(source)
    s.start()
    s.finish("flaky", "FAILED")
    assert s.state_now == "RETRIED" and s.state("flaky") == "RETRIED"
    [created] = s.new_executions
    assert created.due == s.clock.now + 30
    retry = created.execution
    assert retry.metadata.attempt_number == 2 and retry.original_id == s.execution.original_id
    assert retry.state.current == "CREATED" and retry.id != s.execution.id
    second = s.child()
    second.start()
    second.finish("flaky", "FAILED")
    assert second.state_now == "RETRIED"
    third = second.child()
    assert third.execution.metadata.attempt_number == 3
    third.start()
    third.finish("flaky", "FAILED")
    assert third.state_now == "FAILED" and third.new_executions == []


def test_a_killed_retry_does_not_run_again_when_its_delay_is_due() -> None:
    s = Scenario(_retried(CONSTANT))
    s.start()
    s.finish("flaky", "FAILED")
    s.kill()
    assert s.state_now == "KILLED" and s.state("flaky") == "KILLED"
    late = s.tick(30)
    assert late is not None and late.jobs == [] and not late.changed


def test_an_invalid_retry_interval_is_refused_when_the_flow_loads() -> None:
    # Kestra reads `interval` as a java.time.Duration when it parses the flow
    # (YamlParserTest.parse); the flow never reaches the executor.
    with pytest.raises(FlowLoadError, match=r"retry\.interval: `interval` must be an ISO-8601"):
        Scenario(_retried("      type: constant\n      interval: soon\n      maxAttempt: 3"))


# -- kill, resume -----------------------------------------------------------------------------
TWO = _flow(
    f"""
  - id: par
    type: {FLOW}.Parallel
    tasks:
      - id: a
        type: {LOG}
        message: a
      - id: b
        type: {LOG}
        message: b
  - id: never
    type: {LOG}
    message: never
"""
)


def test_kill_ends_every_unfinished_run_killed() -> None:
    s = Scenario(TWO)
    s.start()
    s.finish("a")
    end = s.kill()
    assert end.ended and s.state_now == "KILLED"
    assert s.states() == {"par": "KILLED", "a": "SUCCESS", "b": "KILLED"}
    assert s.history() == ["CREATED", "RUNNING", "KILLING", "KILLED"]
    late = s.finish("b")
    assert late.jobs == [] and s.state("b") == "KILLED", "a late result changes nothing"


def test_a_kill_of_an_ended_execution_is_ignored() -> None:
    s = Scenario(_flow(f"  - id: a\n    type: {LOG}\n    message: a\n"))
    s.start()
    s.finish("a")
    again = s.kill()
    assert not again.changed and s.state_now == "SUCCESS"


def test_a_kill_before_the_first_pass_ends_killed_without_runs() -> None:
    s = Scenario(TWO)
    s.send(Kill())
    assert s.state_now == "KILLED" and s.execution.task_run_list == []


def test_a_resume_of_an_execution_that_is_not_paused_is_ignored() -> None:
    s = Scenario(TWO)
    s.start()
    again = s.resume({"x": 1})
    assert not again.changed and s.state_now == "RUNNING"


# -- restart ----------------------------------------------------------------------------------
RESTARTABLE = _flow(
    f"""
  - id: first
    type: {RETURN}
    format: one
  - id: group
    type: {FLOW}.Sequential
    tasks:
      - id: check
        type: {FAIL}
  - id: last
    type: {LOG}
    message: last
""",
    f"errors:\n  - id: alert\n    type: {LOG}\n    message: failed\n",
)


def test_restart_runs_what_failed_again_and_drops_the_errors_branch() -> None:
    # Kestra: RestartCaseTest.restartFailedThenSuccess
    s = Scenario(RESTARTABLE)
    s.start()
    s.finish("first", outputs={"value": "one"})
    s.finish("check", "FAILED")
    s.finish("alert")
    assert s.state_now == "FAILED"
    first_id = s.run("first").id
    s.restart()
    assert s.history()[-3:] == ["FAILED", "RESTARTED", "RUNNING"]
    assert "alert" not in s.states(), "errors runs are dropped"
    assert s.state("group") == "RUNNING" and s.state("check") == "RESTARTED"
    assert [(j.task_id, j.attempt) for j in s.jobs] == [("check", 2)]
    assert s.execution.metadata.attempt_number == 2
    s.finish("check")
    s.finish("last")
    assert s.state_now == "SUCCESS"
    assert s.run("first").id == first_id and len(s.run("first").attempts) == 1


def test_restart_on_a_fixed_revision_runs_it() -> None:
    s = Scenario(RESTARTABLE)
    s.start()
    s.finish("first")
    s.finish("check", "FAILED")
    s.finish("alert")
    fixed = s.deploy(
        RESTARTABLE.replace(FAIL, LOG).replace("id: check\n", "id: check\n        message: ok\n")
    )
    s.restart(revision=fixed.revision)
    assert s.execution.flow_revision == 2
    s.finish("check")
    s.finish("last")
    assert s.state_now == "SUCCESS"


def test_a_running_execution_does_not_restart() -> None:
    s = Scenario(RESTARTABLE)
    s.start()
    again = s.restart()
    assert not again.changed and "RESTARTED" not in s.history()


def test_restart_recreates_a_flowable_that_failed_by_itself() -> None:
    s = Scenario(
        _flow(
            f"""
  - id: each
    type: {FLOW}.ForEach
    values: "{{{{ inputs.values }}}}"
    tasks:
      - id: t
        type: {LOG}
        message: "{{{{ taskrun.value }}}}"
""",
            "inputs:\n  - id: values\n    type: STRING\n",
        ),
        inputs={"values": "not json"},
    )
    s.start()
    assert s.states() == {"each": "FAILED"}
    broken = s.run("each").id
    s.execution.inputs["values"] = "[1]"
    s.restart()
    assert s.run("each").id != broken and s.job_ids() == ["t"]


def test_restart_of_a_paused_execution_resumes_nothing_by_itself() -> None:
    s = Scenario(
        _flow(
            f"  - id: wait\n    type: {FLOW}.Pause\n  - id: after\n    type: {LOG}\n    message: x\n"
        )
    )
    s.start()
    s.restart()
    # The paused Pause is removed and created again: it pauses again.
    assert s.state_now == "PAUSED" and s.state("wait") == "PAUSED"
    assert len(s.runs("wait")) == 1


# -- timeout, runIf, allowFailure, allowWarning -----------------------------------------------
def test_a_task_timeout_is_rendered_into_its_job() -> None:
    s = Scenario(
        _flow(
            f"""
  - id: slow
    type: {LOG}
    message: x
    timeout: "PT{{{{ 2 + 3 }}}}S"
"""
        )
    )
    s.start()
    assert s.jobs[0].timeout == 5.0


def test_a_timeout_that_does_not_render_fails_the_task_without_a_job() -> None:
    timeout = "timeout: \"{{ 'soon' }}\""  # a literal `soon` is refused at load
    s = Scenario(_flow(f"  - id: slow\n    type: {LOG}\n    message: x\n    {timeout}\n"))
    s.start()
    assert s.jobs == [] and s.state("slow") == "FAILED" and s.state_now == "FAILED"
    assert any(m.startswith("timeout:") for m in s.messages("ERROR"))


def test_run_if_false_skips_and_the_flow_goes_on() -> None:
    # Kestra: RunIfTest (skipped tasks end SKIPPED)
    s = Scenario(
        _flow(
            f"""
  - id: maybe
    type: {LOG}
    message: x
    runIf: "{{{{ inputs.go }}}}"
  - id: after
    type: {LOG}
    message: y
""",
            "inputs:\n  - id: go\n    type: BOOLEAN\n",
        ),
        inputs={"go": False},
    )
    s.start()
    assert s.state("maybe") == "SKIPPED" and s.job_ids() == ["after"]
    s.finish("after")
    assert s.state_now == "SUCCESS"


@pytest.mark.parametrize(
    "props,result,task_end,end",
    [
        ("allowFailure: true", "FAILED", "WARNING", "WARNING"),
        ("allowWarning: true", "WARNING", "SUCCESS", "SUCCESS"),
        ("allowFailure: true\n    allowWarning: true", "FAILED", "SUCCESS", "SUCCESS"),
        ("description: plain", "WARNING", "WARNING", "WARNING"),
    ],
)
def test_allow_failure_and_allow_warning(props: str, result: str, task_end: str, end: str) -> None:
    # Kestra: AllowFailureTest / conformance task-allow-failure-runnable, task-allow-warning-runnable
    s = Scenario(_flow(f"  - id: t\n    type: {LOG}\n    message: x\n    {props}\n"))
    s.start()
    s.finish("t", result)
    assert s.state("t") == task_end and s.state_now == end


# -- errors, finally, afterExecution, outputs -------------------------------------------------
HANDLED = _flow(
    f"""
  - id: work
    type: {LOG}
    message: work
""",
    f"""errors:
  - id: onError
    type: {LOG}
    message: error
finally:
  - id: always
    type: {LOG}
    message: always
afterExecution:
  - id: notify
    type: {LOG}
    message: "{{{{ execution.state }}}}"
""",
)


@pytest.mark.parametrize(
    "outcome,order,end",
    [
        ("SUCCESS", ["always", "notify"], "SUCCESS"),
        ("FAILED", ["onError", "always", "notify"], "FAILED"),
    ],
)
def test_errors_then_finally_then_after_execution(outcome: str, order: list[str], end: str) -> None:
    # Kestra: FinallyTest, and the afterExecution tests of ExecutionServiceTest
    s = Scenario(HANDLED)
    s.start()
    s.finish("work", outcome)
    seen = []
    while s.jobs:
        assert s.state_now == "RUNNING", "the end waits for every branch"
        seen.append(s.jobs[0].task_id)
        if seen[-1] == "notify":  # Kestra 1.x: AfterExecutionTestCase (the final state)
            assert s.jobs[0].variables["execution"]["state"] == end
        s.finish(s.jobs[0].task_id)
    assert seen == order and s.state_now == end
    assert s.execution.k_end_state == end


def test_after_execution_never_changes_the_outcome() -> None:
    s = Scenario(HANDLED)
    s.start()
    s.finish("work")
    s.finish("always")
    s.finish("notify", "FAILED")
    assert s.state_now == "SUCCESS"


def test_flow_outputs_are_rendered_at_the_end_and_a_broken_one_fails_it() -> None:
    good = _flow(
        f"  - id: r\n    type: {RETURN}\n    format: x\n",
        'outputs:\n  - id: out\n    type: STRING\n    value: "{{ outputs.r.value }}!"\n',
    )
    s = Scenario(good)
    s.start()
    s.finish("r", outputs={"value": "x"})
    assert s.execution.outputs == {"out": "x!"} and s.state_now == "SUCCESS"
    broken = Scenario(good.replace("outputs.r.value", "outputs.nope.value"))
    broken.start()
    broken.finish("r", outputs={"value": "x"})
    assert broken.state_now == "FAILED"
    assert any("Failed to render output `out`" in m for m in broken.messages("ERROR"))
    # Kestra: FlowOutputTest#shouldGetSuccessExecutionForFlowWithOptionalOutputs
    optional = Scenario(
        good.replace("outputs.r.value", "outputs.nope.value").replace(
            "type: STRING\n", "type: STRING\n    required: false\n"
        )
    )
    optional.start()
    optional.finish("r", outputs={"value": "x"})
    assert optional.state_now == "SUCCESS" and optional.execution.outputs == {}


# -- SLA --------------------------------------------------------------------------------------
def _sla(behavior: str, kind: str = "MAX_DURATION", extra: str = "    duration: PT1M\n") -> str:
    return _flow(
        f"  - id: slow\n    type: {LOG}\n    message: x\n",
        f"sla:\n  - id: quick\n    type: {kind}\n    behavior: {behavior}\n{extra}"
        "    labels:\n      sla: missed\n",
    )


@pytest.mark.parametrize("behavior,end", [("FAIL", "FAILED"), ("CANCEL", "CANCELLED")])
def test_max_duration_sla_ends_the_execution_when_due(behavior: str, end: str) -> None:
    # Kestra: SLAServiceTest / the MAX_DURATION SLA of flows/valids/sla-max-duration-*.yaml
    s = Scenario(_sla(behavior))
    s.start()
    assert s.due_in() == [(60.0, "SlaDue")]
    s.tick(60)
    assert s.state_now == end and s.state("slow") == "KILLED"
    assert s.execution.label_map()["sla"] == "missed"
    assert "SLA quick violated: exceeded its maximum duration" in s.messages("WARN")


def test_a_max_duration_sla_with_behavior_none_only_labels_and_logs() -> None:
    s = Scenario(_sla("NONE"))
    s.start()
    s.tick(60)
    assert s.state_now == "RUNNING" and s.execution.label_map()["sla"] == "missed"
    s.finish("slow")
    assert s.state_now == "SUCCESS"


def test_a_max_duration_sla_due_after_the_end_changes_nothing() -> None:
    s = Scenario(_sla("FAIL"))
    s.start()
    s.finish("slow")
    late = s.tick(60)
    assert late is not None and not late.changed and s.state_now == "SUCCESS"


def test_an_execution_assertion_sla_acts_when_false_and_only_once() -> None:
    assertion = '    assert: "{{ inputs.ok }}"\n'
    inputs = "inputs:\n  - id: ok\n    type: BOOLEAN\n"
    s = Scenario(inputs + _sla("FAIL", "EXECUTION_ASSERTION", assertion), inputs={"ok": False})
    s.start()
    assert s.state_now == "FAILED" and s.execution.k_sla_violated == [0]
    assert s.execution.task_run_list == [], "checked before the first task starts"
    quiet = Scenario(inputs + _sla("NONE", "EXECUTION_ASSERTION", assertion), inputs={"ok": False})
    quiet.start()
    quiet.finish("slow")
    assert quiet.state_now == "SUCCESS"
    assert quiet.messages("WARN") == ["SLA quick violated: assertion `{{ inputs.ok }}` is false"]


def test_an_sla_due_event_for_an_unknown_sla_is_ignored() -> None:
    s = Scenario(_sla("FAIL"))
    s.start()
    assert not s.send(SlaDue(index=5)).changed


# -- Exit, Labels -----------------------------------------------------------------------------
def _exit(state: str) -> str:
    return _flow(
        f"""
  - id: par
    type: {FLOW}.Parallel
    tasks:
      - id: busy
        type: {LOG}
        message: busy
      - id: group
        type: {FLOW}.Sequential
        tasks:
          - id: stop
            type: io.kestra.plugin.core.execution.Exit
            state: {state}
          - id: never
            type: {LOG}
            message: never
  - id: after
    type: {LOG}
    message: never
"""
    )


@pytest.mark.parametrize(
    "state,end",
    [
        ("FAILED", "FAILED"),
        ("WARNING", "WARNING"),
        ("CANCELED", "CANCELLED"),
        ("SUCCESS", "SUCCESS"),
    ],
)
def test_exit_ends_the_execution_and_every_unfinished_run_at_once(state: str, end: str) -> None:
    # Kestra: ExitTest.shouldExitTheExecution
    s = Scenario(_exit(state))
    s.start()
    assert s.state_now == end
    # Kestra 1.x: the Exit run itself takes the exit state (ExitTest reads runs 0 and 1).
    assert s.states() == {"par": end, "busy": end, "group": end, "stop": end}
    assert s.jobs == [], "busy was asked for before the Exit, in the same call: dropped"
    assert s.run("stop").attempts[0].state.current == end


def test_exit_killed_kills_like_a_kill() -> None:
    # Kestra: ExitTest.shouldExitAndKillTheExecution
    s = Scenario(_exit("KILLED"))
    s.start()
    assert s.state_now == "KILLED" and "KILLING" in s.history()
    assert s.state("busy") == "KILLED" and s.state("stop") == "KILLED"


@pytest.mark.parametrize(
    "labels",
    [
        "\n      team: data\n      env: prod",
        "\n      - key: team\n        value: data\n      - key: env\n        value: prod",
        ' \'{"team": "data", "env": "prod"}\'',
    ],
)
def test_labels_add_or_override_execution_labels(labels: str) -> None:
    # Kestra: RuntimeLabelsTest.update
    s = Scenario(
        _flow(
            f"  - id: tag\n    type: io.kestra.plugin.core.execution.Labels\n    labels:{labels}\n"
        )
    )
    s.execution.labels.append(Label(key="env", value="dev"))
    s.start()
    assert s.state("tag") == "SUCCESS" and s.state_now == "SUCCESS"
    assert s.execution.label_map() == {"env": "prod", "team": "data"}
    assert s.jobs == [], "applied by the executor, never sent to a worker"


def test_a_system_label_fails_the_labels_task() -> None:
    # Kestra: RuntimeLabelsTest.noSystemLabels
    s = Scenario(
        _flow(
            "  - id: tag\n    type: io.kestra.plugin.core.execution.Labels\n"
            "    labels:\n      system.correlationId: mine\n"
        )
    )
    s.start()
    assert s.state("tag") == "FAILED" and s.run("tag").attempts[0].state.current == "FAILED"
    assert "system label `system.correlationId` cannot be set by a task" in s.messages("ERROR")


# -- Subflow ----------------------------------------------------------------------------------
CHILD = _flow(f"  - id: inner\n    type: {RETURN}\n    format: child\n", flow_id="child").replace(
    "tasks:",
    'inputs:\n  - id: name\n    type: STRING\n    defaults: x\noutputs:\n  - id: said\n    type: STRING\n    value: "{{ outputs.inner.value }}"\ntasks:',
    1,
)


def _parent(props: str = "") -> str:
    return _flow(
        f"""
  - id: call
    type: {FLOW}.Subflow
    namespace: tests.rules
    flowId: child
    inputs:
      name: "{{{{ execution.id }}}}"
{props}  - id: after
    type: {LOG}
    message: after
"""
    )


def test_a_waiting_subflow_ends_with_its_child() -> None:
    # Kestra: SubflowRunnerTest / FlowCaseTest.waitSuccess
    s = Scenario(_parent(), subflows=[CHILD])
    s.start()
    assert s.state("call") == "RUNNING" and s.jobs == []
    child = s.child("call")
    assert child.execution.parent_id == s.execution.id
    assert child.execution.inputs == {"name": s.execution.id}
    assert child.execution.label_map()["system.correlationId"] == s.execution.id
    assert s.run("call").outputs == {"executionId": child.execution.id}
    child.start()
    child.finish("inner", outputs={"value": "child"})
    assert child.state_now == "SUCCESS"
    s.deliver(child)
    assert s.state("call") == "SUCCESS"
    assert s.run("call").outputs == {
        "executionId": child.execution.id,
        "state": "SUCCESS",
        "outputs": {"said": "child"},
    }
    assert s.job_ids() == ["after"]


@pytest.mark.parametrize("transmit,end", [("true", "FAILED"), ("false", "SUCCESS")])
def test_a_failed_child_fails_the_subflow_unless_transmit_failed_is_off(
    transmit: str, end: str
) -> None:
    # Kestra: FlowCaseTest.waitFailed / invalidOutputs
    s = Scenario(_parent(f"    transmitFailed: {transmit}\n"), subflows=[CHILD])
    s.start()
    s.child_ended("call", "FAILED")
    assert s.state("call") == end


def test_a_subflow_without_wait_succeeds_at_once() -> None:
    # Kestra: FlowCaseTest.noWait
    s = Scenario(_parent("    wait: false\n"), subflows=[CHILD])
    s.start()
    assert s.state("call") == "SUCCESS" and s.job_ids() == ["after"]
    assert s.new_executions[0].execution.k_parent_task_run_id is None


def test_a_missing_subflow_fails_the_task() -> None:
    s = Scenario(_parent())
    s.start()
    assert s.state("call") == "FAILED" and s.state_now == "FAILED"
    assert "Subflow tests.rules/child not found or disabled" in s.messages("ERROR")


def test_a_subflow_retries_with_a_new_child() -> None:
    # Kestra: RetryCaseTest.retrySubflow
    s = Scenario(
        _parent("    retry:\n      type: constant\n      interval: PT1S\n      maxAttempt: 2\n"),
        subflows=[CHILD],
    )
    s.start()
    s.child_ended("call", "FAILED")
    assert s.state("call") == "RETRYING" and s.due_in() == [(1.0, "RetryDue")]
    s.tick(1)
    assert len(s.new_executions) == 2 and s.state("call") == "RUNNING"
    assert len(s.run("call").attempts) == 2


def test_killing_a_parent_kills_its_running_child() -> None:
    s = Scenario(_parent(), subflows=[CHILD])
    s.start()
    child_id = s.run("call").outputs["executionId"]
    s.kill()
    assert [(n.execution_id, type(n.event).__name__) for n in s.notices] == [(child_id, "Kill")]


# -- determinism ------------------------------------------------------------------------------
def test_a_scenario_replays_byte_for_byte() -> None:
    def run() -> bytes:
        s = Scenario(_retried(CONSTANT, f"  - id: after\n    type: {LOG}\n    message: x\n"))
        s.start()
        s.finish("flaky", "FAILED", took=1.5)
        s.tick(30)
        s.finish("flaky", "SUCCESS", took=0.25)
        s.finish("after")
        return encode_execution(s.execution)

    assert run() == run()


def test_every_date_comes_from_the_clock() -> None:
    s = Scenario(_retried(CONSTANT))
    s.start()
    s.clock.now += 12.5
    s.finish("flaky", "FAILED")
    assert s.run("flaky").state.histories[-1].date == "2026-01-01T00:00:12.500000Z"
    assert s.execution.state.histories[0].date == "2026-01-01T00:00:00.000000Z"
    assert [d.due for d in s.pending] == [s.clock.now + 30]
    assert isinstance(s.pending[0].event, RetryDue)
    assert all(r.timestamp == "2026-01-01T00:00:12.500000Z" for r in s.logs)


# -- Kestra 1.x semantics -----------------------------------------------------------------------
def test_switch_without_match_and_null_defaults_fails() -> None:
    # Kestra: SwitchTest#switchImpossible (switch-impossible.yaml, `defaults: null`)
    s = Scenario(
        _flow(
            f"""  - id: sw
    type: {FLOW}.Switch
    value: "nope"
    cases:
      "NO":
        - id: never
          type: {LOG}
          message: never
    defaults: null
"""
        )
    )
    s.start()
    assert s.state("sw") == "FAILED" and s.state_now == "FAILED"
    assert len(s.run("sw").attempts) == 1, "Kestra records the failure as one attempt"


def test_labels_keep_the_last_value_of_a_repeated_key_and_refuse_empty_ones() -> None:
    # Kestra: RuntimeLabelsTest#updateGetsDeduplicated and #updateIgnoresEmpty
    labels = "\n      - key: k\n        value: v1\n      - key: k\n        value: v2"
    s = Scenario(
        _flow(
            f"  - id: tag\n    type: io.kestra.plugin.core.execution.Labels\n    labels:{labels}\n"
        )
    )
    s.start()
    assert [(label.key, label.value) for label in s.execution.labels] == [("k", "v2")]
    empty = "\n      - key: k\n        value: ''"
    s = Scenario(
        _flow(
            f"  - id: tag\n    type: io.kestra.plugin.core.execution.Labels\n    labels:{empty}\n"
        )
    )
    s.start()
    assert s.state("tag") == "FAILED" and s.execution.labels == []


def test_foreach_over_null_values_fails_with_kestras_message() -> None:
    # Kestra: EachSequentialTest#eachNull
    s = Scenario(
        _flow(
            f"""  - id: each
    type: {FLOW}.ForEach
    values: '[1, null, {{"key": "k"}}]'
    tasks:
      - id: never
        type: {LOG}
        message: never
"""
        )
    )
    s.start()
    assert s.state_now == "FAILED"
    assert any(
        "Found '1' null values on Each, with values=[1, null, {key=k}]" in m for m in s.messages()
    )


def test_foreach_children_carry_the_index_of_their_value_as_iteration() -> None:
    # Kestra: ForEachTest#iteration (foreach-iteration.yaml)
    s = Scenario(
        _flow(
            f"""  - id: each
    type: {FLOW}.ForEach
    values: ["a", "b"]
    tasks:
      - id: one
        type: {LOG}
        message: "{{{{ taskrun.iteration }}}}"
"""
        )
    )
    s.start()
    assert s.jobs[0].variables["taskrun"]["iteration"] == 0
    s.finish_all()
    assert [r.iteration for r in s.runs("one")] == [0, 1]


def test_envs_come_from_env_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    # Kestra 1.x: VariablesTest#recursiveVars (ENV_TEST1, ENV_TEST2 → envs.test1, envs.test2)
    from kestrad.runtime.variables import envs_from_environment, refresh_environment

    monkeypatch.setenv("ENV_TEST1", "new")
    monkeypatch.setenv("KESTRA_TEST1", "old")
    monkeypatch.setenv("KESTRA_TEST2", "kept")
    refresh_environment()
    try:
        envs = envs_from_environment()
        assert envs["test1"] == "new" and envs["test2"] == "kept"
    finally:
        monkeypatch.undo()
        refresh_environment()


# -- Pause (Kestra 1.x) -------------------------------------------------------------------------
def _pause(props: str) -> str:
    return _flow(
        f"""  - id: pause
    type: {FLOW}.Pause
{props}
  - id: last
    type: {LOG}
    message: last
"""
    )


@pytest.mark.parametrize(
    "behavior,pause_state,end,runs",
    [
        ("RESUME", "SUCCESS", "SUCCESS", ["pause", "last"]),
        ("WARN", "WARNING", "WARNING", ["pause", "last"]),
        ("FAIL", "FAILED", "FAILED", ["pause"]),
        ("CANCEL", "CANCELLED", "CANCELLED", ["pause"]),
    ],
)
def test_pause_duration_then_behavior_decides(
    behavior: str, pause_state: str, end: str, runs: list[str]
) -> None:
    # Kestra: PauseTest#runDurationWith{CONTINUE,WARN,FAIL,CANCEL}Behavior
    s = Scenario(_pause(f"    pauseDuration: PT1S\n    behavior: {behavior}"))
    s.start()
    assert s.state_now == "PAUSED"
    s.tick(1)
    s.finish_all()
    assert s.state("pause") == pause_state and s.state_now == end
    assert [run.task_id for run in s.execution.task_run_list] == runs


def test_a_person_resuming_a_pause_ignores_its_behavior() -> None:
    # Kestra's Pause: "Tasks that are resumed before the duration … will always succeed"
    s = Scenario(_pause("    pauseDuration: PT1M\n    behavior: FAIL"))
    s.start()
    s.resume()
    s.finish_all()
    assert s.state("pause") == "SUCCESS" and s.state_now == "SUCCESS"


def test_on_pause_runs_while_paused_and_the_pause_waits_for_it() -> None:
    # Kestra: PauseTest#shouldExecuteOnPauseTask (pause_on_pause.yaml)
    s = Scenario(
        _pause(
            f"    pauseDuration: PT1S\n    onPause:\n      id: hello\n      type: {LOG}\n      message: hi"
        )
    )
    s.start()
    assert s.state_now == "PAUSED" and s.job_ids() == ["hello"]
    s.tick(1)
    assert s.state("pause") == "RUNNING", "waits for its onPause run"
    s.finish("hello")
    s.finish_all()
    assert s.state_now == "SUCCESS" and s.state("hello") == "SUCCESS"


def test_a_timed_out_pause_runs_its_errors_and_finally_then_fails() -> None:
    # Kestra: PauseTest#shouldExecuteErrorsFinallyAndAfterExecution
    s = Scenario(
        _pause(
            f"    timeout: PT1S\n    errors:\n      - id: onError\n        type: {LOG}\n"
            f"        message: e\n    finally:\n      - id: always\n        type: {LOG}\n"
            "        message: f"
        )
    )
    s.start()
    s.tick(1)
    assert s.job_ids() == ["onError"]
    s.finish("onError")
    s.finish("always")
    assert s.state("pause") == "FAILED" and s.state_now == "FAILED"
    assert "last" not in s.states()


@pytest.mark.parametrize(
    "props,state",
    [
        ('    when: "{{ 1 == 2 }}"', "SKIPPED"),
        ('    when: "{{ 1 == 1 }}"\n    runIf: "{{ false }}"', "SKIPPED"),
        ('    when: "{{ 1 == 1 }}"', "CREATED"),
        ('    when: "{{ nope.x }}"', "FAILED"),
    ],
)
def test_when_is_a_condition_beside_run_if(props: str, state: str) -> None:
    # Kestra 1.x's `when`: the task runs only when it (and runIf) holds, in any flowable
    s = Scenario(
        _flow(
            f"""  - id: seq
    type: {FLOW}.Sequential
    tasks:
      - id: maybe
        type: {LOG}
        message: hi
{textwrap.indent(props, "    ")}
"""
        )
    )
    s.start()
    assert s.state("maybe") == state


# -- Approval (Kestra 1.x core) -----------------------------------------------------------------
def _approval(props: str = "") -> str:
    return _flow(
        f"""  - id: review
    type: {FLOW}.Approval
{props}    onWait:
      - id: notify
        type: {LOG}
        message: please review
    onApprove:
      - id: approved
        type: {LOG}
        message: yes
    onDeny:
      - id: denied
        type: {LOG}
        message: no
  - id: after
    type: {LOG}
    message: after
"""
    )


def test_approval_pauses_runs_on_wait_then_the_approved_branch() -> None:
    from kestrad.model.messages import Resume

    s = Scenario(_approval())
    s.start()
    assert s.state_now == "PAUSED" and s.job_ids() == ["notify"]
    s.finish("notify")
    s.send(Resume(decision="APPROVED", comment="fine", inputs={"why": "ok"}))
    assert s.job_ids() == ["approved"]
    while s.jobs:
        s.finish_all()
    assert s.state_now == "SUCCESS" and s.state("review") == "SUCCESS"
    out = s.run("review").outputs
    assert out["decision"] == "APPROVED" and out["comment"] == "fine"
    assert out["inputs"] == {"why": "ok"} and out["auto"] is False


def test_approval_denied_runs_on_deny_then_cancels_the_execution() -> None:
    from kestrad.model.messages import Resume

    s = Scenario(_approval())
    s.start()
    s.finish("notify")
    s.send(Resume(decision="DENIED"))
    while s.jobs:
        s.finish_all()
    assert s.state("denied") == "SUCCESS"
    assert s.state_now == "CANCELLED" and "after" not in s.states()


def test_approval_expires_after_its_timeout_and_auto_approve_never_pauses() -> None:
    s = Scenario(_approval("    timeout: PT1M\n    expireBehavior: WARN\n"))
    s.start()
    s.finish("notify")
    s.tick(60)
    while s.jobs:
        s.finish_all()
    assert s.run("review").outputs["decision"] == "EXPIRED"
    assert s.state("review") == "WARNING" and s.state_now == "WARNING"
    auto = Scenario(_approval("    autoApprove: true\n"))
    auto.start()
    assert auto.state_now == "RUNNING" and auto.job_ids() == ["approved"]
    while auto.jobs:
        auto.finish_all()
    assert auto.state_now == "SUCCESS" and auto.run("review").outputs["auto"] is True


def test_kill_task_kills_its_execution_and_with_propagate_its_subflows() -> None:
    # Kestra 1.x: execution.Kill (propagateKill also reaches subflows started without wait)
    child = (
        "id: child\nnamespace: tests.rules\ntasks:\n  - id: c\n    type: "
        + LOG
        + "\n    message: c\n"
    )
    s = Scenario(
        _flow(
            f"""  - id: start
    type: {FLOW}.Subflow
    namespace: tests.rules
    flowId: child
    wait: false
  - id: stop
    type: io.kestra.plugin.core.execution.Kill
    propagateKill: true
  - id: never
    type: {LOG}
    message: never
"""
        ),
        subflows=[child],
    )
    s.start()
    assert s.state_now == "KILLED" and s.state("stop") == "KILLED"
    assert "never" not in s.states()
    assert [n.execution_id for n in s.notices] == [s.run("start").outputs["executionId"]]


def test_killing_a_for_each_item_kills_every_batch_execution() -> None:
    # Kestra: a kill reaches the subflow executions a ForEachItem waits for
    child = (
        "id: child\nnamespace: tests.rules\ninputs:\n  - id: items\n    type: STRING\n"
        "tasks:\n  - id: c\n    type: " + LOG + "\n    message: c\n"
    )
    s = Scenario(
        _flow(
            """  - id: each
    type: io.kestra.plugin.core.flow.ForEachItem
    items: "kestra:///tests/rules/f/in.txt"
    namespace: tests.rules
    flowId: child
    inputs:
      items: "{{ taskrun.items }}"
"""
        ),
        subflows=[child],
    )
    s.start()
    s.finish("each_split", outputs={"batches": ["kestra:///a", "kestra:///b"]})
    batch_ids = [created.execution.id for created in s.new_executions]
    assert len(batch_ids) == 2
    assert s.run("each_items").outputs["iterations"] == {"CREATED": 2}
    s.kill()
    assert s.state_now == "KILLED"
    assert sorted(n.execution_id for n in s.notices) == sorted(batch_ids)
