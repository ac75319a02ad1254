"""Every core flowable through `advance`, driven by the scenario harness: which jobs it asks
for, in which order, and the states it ends in. No store, no worker, no sleep.

Where a case mirrors one of Kestra's own tests, the Java test is named in a comment
(kestra-io/kestra, core/src/test/java/io/kestra/plugin/core/flow/).
"""

from __future__ import annotations

import pytest
from scenario import Scenario

from kestrad.model.messages import DynamicRun
from kestrad.model.state import History

LOG = "io.kestra.plugin.core.log.Log"
RETURN = "io.kestra.plugin.core.debug.Return"
FAIL = "io.kestra.plugin.core.execution.Fail"
FLOW = "io.kestra.plugin.core.flow"


def _flow(tasks: str, extra: str = "") -> str:
    return f"id: f\nnamespace: tests.flowables\n{extra}tasks:\n{tasks}"


# -- Sequential -------------------------------------------------------------------------------
SEQUENTIAL = _flow(
    f"""
  - id: seq
    type: {FLOW}.Sequential
    tasks:
      - id: a
        type: {LOG}
        message: a
      - id: b
        type: {LOG}
        message: b
  - id: after
    type: {LOG}
    message: after
"""
)


def test_sequential_runs_its_children_one_after_the_other() -> None:
    # Kestra: SequentialTest.sequential
    s = Scenario(SEQUENTIAL)
    s.start()
    assert s.job_ids() == ["a"] and s.state("seq") == "RUNNING"
    s.finish("a")
    assert s.job_ids() == ["b"]
    s.finish("b")
    assert s.state("seq") == "SUCCESS" and s.job_ids() == ["after"]
    s.finish("after")
    assert s.state_now == "SUCCESS"


def test_a_failed_child_ends_the_sequential_and_the_rest_never_runs() -> None:
    s = Scenario(SEQUENTIAL)
    s.start()
    s.finish("a", "FAILED")
    assert s.states() == {"seq": "FAILED", "a": "FAILED"}
    assert s.state_now == "FAILED" and s.jobs == []


# -- Parallel ---------------------------------------------------------------------------------
def _parallel(concurrent: int) -> str:
    children = "".join(
        f"""
      - id: p{i}
        type: {LOG}
        message: "{i}"
"""
        for i in range(1, 5)
    )
    return _flow(
        f"""
  - id: par
    type: {FLOW}.Parallel
    concurrent: {concurrent}
    tasks:{children}"""
    )


def test_parallel_starts_every_child_at_once() -> None:
    # Kestra: ParallelTest.parallel
    s = Scenario(_parallel(0))
    s.start()
    assert sorted(s.job_ids()) == ["p1", "p2", "p3", "p4"]
    s.finish_all()
    assert s.state("par") == "SUCCESS" and s.state_now == "SUCCESS"


def test_parallel_concurrent_keeps_at_most_that_many_children_running() -> None:
    s = Scenario(_parallel(2))
    s.start()
    assert s.job_ids() == ["p1", "p2"]
    s.finish("p2")
    assert s.job_ids() == ["p1", "p3"]
    s.finish("p1")
    s.finish("p3")
    assert s.job_ids() == ["p4"]
    s.finish("p4")
    assert s.state_now == "SUCCESS"


def test_a_failed_child_without_errors_ends_the_parallel_at_once() -> None:
    # Today's behaviour, kept: with no `errors` to run, the first failure ends the Parallel
    # and the execution FAILED; the siblings' jobs already sent still report later.
    s = Scenario(_parallel(0))
    s.start()
    s.finish("p1", "FAILED")
    assert s.state("par") == "FAILED" and s.state_now == "FAILED"
    assert s.state("p2") == "CREATED"
    s.finish("p2")
    assert s.state("p2") == "SUCCESS" and s.state_now == "FAILED"


# -- If / Switch ------------------------------------------------------------------------------
IF = _flow(
    f"""
  - id: test
    type: {FLOW}.If
    condition: "{{{{ inputs.go }}}}"
    then:
      - id: yes1
        type: {LOG}
        message: y
      - id: yes2
        type: {LOG}
        message: y
    else:
      - id: no1
        type: {LOG}
        message: n
""",
    "inputs:\n  - id: go\n    type: BOOLEAN\n",
)


@pytest.mark.parametrize("go,branch", [(True, ["yes1", "yes2"]), (False, ["no1"])])
def test_if_runs_one_branch_in_order(go: bool, branch: list[str]) -> None:
    # Kestra: IfTest.ifTruthy / ifFalsy
    s = Scenario(IF, inputs={"go": go})
    s.start()
    seen = []
    while s.jobs:
        seen.append(s.jobs[0].task_id)
        s.finish(s.jobs[0].task_id)
    assert seen == branch
    assert s.run("test").outputs == {"evaluationResult": go}
    assert s.state_now == "SUCCESS"


def test_if_without_else_ends_at_once_when_false() -> None:
    s = Scenario(
        _flow(
            f"""
  - id: test
    type: {FLOW}.If
    condition: "false"
    then:
      - id: never
        type: {LOG}
        message: y
"""
        )
    )
    s.start()
    assert s.jobs == [] and s.states() == {"test": "SUCCESS"} and s.state_now == "SUCCESS"


SWITCH = _flow(
    f"""
  - id: switch
    type: {FLOW}.Switch
    value: "{{{{ inputs.key }}}}"
    cases:
      A:
        - id: caseA
          type: {LOG}
          message: a
      B:
        - id: caseB
          type: {LOG}
          message: b
    defaults:
      - id: other
        type: {LOG}
        message: default
""",
    "inputs:\n  - id: key\n    type: STRING\n",
)


@pytest.mark.parametrize("key,job", [("A", "caseA"), ("B", "caseB"), ("Z", "other")])
def test_switch_runs_the_matching_case_or_defaults(key: str, job: str) -> None:
    # Kestra: SwitchTest.switchFirst / switchSecond / switchDefault
    s = Scenario(SWITCH, inputs={"key": key})
    s.start()
    assert s.job_ids() == [job]
    assert s.run("switch").outputs == {"value": key, "defaults": job == "other"}
    s.finish(job)
    assert s.state_now == "SUCCESS"


def test_switch_without_match_nor_defaults_fails() -> None:
    # Kestra: SwitchTest.switchImpossible
    source = SWITCH.replace("    defaults:\n      - id: other\n", "    notdefaults:\n").split(
        "    notdefaults:"
    )[0]
    s = Scenario(source, inputs={"key": "Z"})
    s.start()
    assert s.state("switch") == "FAILED" and s.state_now == "FAILED"
    assert any("no case matches `Z`" in m for m in s.messages("ERROR"))


# -- ForEach and the deprecated Each* ---------------------------------------------------------
def _foreach(limit: int, values: str = "[1, 2, 3, 4]") -> str:
    return _flow(
        f"""
  - id: each
    type: {FLOW}.ForEach
    values: {values}
    concurrencyLimit: {limit}
    tasks:
      - id: first
        type: {LOG}
        message: "{{{{ taskrun.value }}}}"
      - id: second
        type: {LOG}
        message: "{{{{ taskrun.value }}}}"
"""
    )


def _values(s: Scenario) -> list[tuple[str, str]]:
    return [(j.task_id, j.variables["taskrun"]["value"]) for j in s.jobs]


def test_foreach_limit_1_runs_values_one_after_the_other() -> None:
    # Kestra: ForEachTest.nonConcurrent
    s = Scenario(_foreach(1))
    s.start()
    order = []
    while s.jobs:
        assert len(s.jobs) == 1
        job = s.jobs[0]
        order.append((job.task_id, job.variables["taskrun"]["value"]))
        s.finish(job.task_id, value=job.variables["taskrun"]["value"])
    assert order == [(t, v) for v in "1234" for t in ("first", "second")]
    assert s.state_now == "SUCCESS"


def test_foreach_limit_0_starts_every_value_its_tasks_in_order() -> None:
    # Kestra: ForEachTest.concurrent (no limit)
    s = Scenario(_foreach(0))
    s.start()
    assert _values(s) == [("first", v) for v in "1234"]
    s.finish("first", value="3")
    assert ("second", "3") in _values(s)
    s.finish_all()
    s.finish_all()
    assert s.state_now == "SUCCESS"
    assert len(s.runs("first")) == len(s.runs("second")) == 4


def test_foreach_limit_2_keeps_two_values_active() -> None:
    # Kestra: ForEachTest.concurrentLimited
    s = Scenario(_foreach(2))
    s.start()
    assert _values(s) == [("first", "1"), ("first", "2")]
    s.finish("first", value="1")
    assert _values(s) == [("first", "2"), ("second", "1")], "value 1 still holds its slot"
    s.finish("second", value="1")
    assert _values(s) == [("first", "2"), ("first", "3")]
    while s.jobs:
        s.finish_all()
    assert s.state_now == "SUCCESS"


def test_foreach_values_render_from_an_expression_and_duplicates_run_once() -> None:
    s = Scenario(_foreach(0, values='"{{ [1, 1, 2] }}"'))
    s.start()
    assert _values(s) == [("first", "1"), ("first", "2")]


def test_foreach_over_values_that_do_not_render_fails_the_loop() -> None:
    s = Scenario(_foreach(0, values='"{{ nope.nope }}"'))
    s.start()
    assert s.states() == {"each": "FAILED"} and s.state_now == "FAILED"


def test_each_sequential_runs_values_one_at_a_time() -> None:
    # Kestra: EachSequentialTest.sequential
    s = Scenario(
        _flow(
            f"""
  - id: each
    type: {FLOW}.EachSequential
    value: ["a", "b"]
    tasks:
      - id: t
        type: {LOG}
        message: "{{{{ taskrun.value }}}}"
"""
        )
    )
    s.start()
    assert _values(s) == [("t", "a")]
    s.finish("t", value="a")
    assert _values(s) == [("t", "b")]
    s.finish("t", value="b")
    assert s.state_now == "SUCCESS"


def test_each_parallel_respects_concurrent() -> None:
    # Kestra: EachParallelTest.parallel
    s = Scenario(
        _flow(
            f"""
  - id: each
    type: {FLOW}.EachParallel
    value: ["a", "b", "c"]
    concurrent: 2
    tasks:
      - id: t
        type: {LOG}
        message: "{{{{ taskrun.value }}}}"
"""
        )
    )
    s.start()
    assert _values(s) == [("t", "a"), ("t", "b")]
    s.finish("t", value="b")
    assert _values(s) == [("t", "a"), ("t", "c")]
    s.finish_all()
    assert s.state_now == "SUCCESS"


def test_a_loop_child_sees_its_parents_values() -> None:
    s = Scenario(
        _flow(
            f"""
  - id: outer
    type: {FLOW}.ForEach
    values: ["x", "y"]
    concurrencyLimit: 0
    tasks:
      - id: inner
        type: {FLOW}.ForEach
        values: ["1"]
        tasks:
          - id: t
            type: {LOG}
            message: "{{{{ parent.taskrun.value }}}}-{{{{ taskrun.value }}}}"
"""
        )
    )
    s.start()
    parents = sorted(j.variables["parent"]["taskrun"]["value"] for j in s.jobs)
    assert parents == ["x", "y"]


# -- Dag --------------------------------------------------------------------------------------
DAG = _flow(
    f"""
  - id: dag
    type: {FLOW}.Dag
    tasks:
      - task:
          id: root
          type: {LOG}
          message: root
      - task:
          id: left
          type: {LOG}
          message: left
        dependsOn: [root]
      - task:
          id: right
          type: {LOG}
          message: right
        dependsOn: [root]
      - task:
          id: join
          type: {LOG}
          message: join
        dependsOn: [left, right]
"""
)


def test_dag_starts_a_task_once_all_it_depends_on_ended() -> None:
    # Kestra: DagTest.dag
    s = Scenario(DAG)
    s.start()
    assert s.job_ids() == ["root"]
    s.finish("root")
    assert sorted(s.job_ids()) == ["left", "right"]
    s.finish("left")
    assert s.job_ids() == ["right"], "join waits for right"
    s.finish("right")
    assert s.job_ids() == ["join"]
    s.finish("join")
    assert s.state_now == "SUCCESS"


# -- AllowFailure -----------------------------------------------------------------------------
def test_allow_failure_turns_its_failed_children_into_a_warning() -> None:
    # Kestra: AllowFailureTest.success
    s = Scenario(
        _flow(
            f"""
  - id: allow
    type: {FLOW}.AllowFailure
    tasks:
      - id: ko
        type: {FAIL}
  - id: next
    type: {LOG}
    message: next
"""
        )
    )
    s.start()
    s.finish("ko", "FAILED")
    assert s.state("allow") == "WARNING" and s.state("ko") == "FAILED"
    assert s.job_ids() == ["next"], "the flow goes on"
    s.finish("next")
    assert s.state_now == "WARNING"


# -- Pause ------------------------------------------------------------------------------------
def test_pause_waits_for_a_resume_with_its_inputs() -> None:
    # Kestra: PauseTest.runOnResume
    s = Scenario(
        _flow(
            f"""
  - id: wait
    type: {FLOW}.Pause
  - id: after
    type: {LOG}
    message: "{{{{ outputs.wait.onResume.who }}}}"
"""
        )
    )
    s.start()
    assert s.state_now == "PAUSED" and s.jobs == [] and s.pending == []
    s.resume({"who": "ops"})
    assert s.run("wait").outputs == {"onResume": {"who": "ops"}}
    assert s.history("wait") == ["CREATED", "RUNNING", "PAUSED", "RUNNING", "SUCCESS"]
    assert s.job_ids() == ["after"]
    assert s.jobs[0].variables["outputs"] == {"wait": {"onResume": {"who": "ops"}}}


PAUSE_DELAY = _flow(
    f"""
  - id: wait
    type: {FLOW}.Pause
    delay: PT10S
  - id: after
    type: {LOG}
    message: after
"""
)


def test_pause_with_a_delay_resumes_by_itself_when_it_is_due() -> None:
    # Kestra: PauseTest.runDelay (one PAUSED, one RUNNING in the pause's history)
    s = Scenario(PAUSE_DELAY)
    s.start()
    assert s.state_now == "PAUSED" and s.due_in() == [(10.0, "Resume")]
    assert s.execution.k_auto_resume
    assert s.tick(9.9) is None and s.state_now == "PAUSED"
    s.tick(0.1)
    assert s.state("wait") == "SUCCESS" and s.job_ids() == ["after"]
    assert s.history("wait").count("PAUSED") == 1 and not s.execution.k_auto_resume


def test_a_pause_resumed_by_hand_ignores_its_delay_when_it_comes() -> None:
    s = Scenario(PAUSE_DELAY)
    s.start()
    s.resume()
    s.finish("after")
    assert s.state_now == "SUCCESS"
    s.tick(10)
    assert s.state_now == "SUCCESS" and s.history("wait").count("RUNNING") == 2


PAUSE_TIMEOUT = _flow(
    f"""
  - id: wait
    type: {FLOW}.Pause
    timeout: PT5S
  - id: after
    type: {LOG}
    message: after
"""
)


def test_pause_timeout_fails_the_pause_still_paused() -> None:
    # Kestra: PauseTest.runTimeout
    s = Scenario(PAUSE_TIMEOUT)
    s.start()
    assert s.due_in() == [(5.0, "PauseTimeout")]
    s.tick(5)
    assert s.state("wait") == "FAILED" and s.state_now == "FAILED"
    assert s.history("wait") == ["CREATED", "RUNNING", "PAUSED", "FAILED"]
    assert "Pause timed out" in s.messages("ERROR")


def test_pause_timeout_after_a_resume_changes_nothing() -> None:
    s = Scenario(PAUSE_TIMEOUT)
    s.start()
    s.resume()
    s.finish("after")
    s.tick(5)
    assert s.state("wait") == "SUCCESS" and s.state_now == "SUCCESS"


def test_pause_timeout_with_allow_failure_ends_warning_and_the_flow_goes_on() -> None:
    # Kestra: PauseTest.runTimeoutAllowFailure (pause-timeout-allow-failure.yaml)
    s = Scenario(PAUSE_TIMEOUT.replace("timeout: PT5S", "timeout: PT5S\n    allowFailure: true"))
    s.start()
    s.tick(5)
    assert s.state("wait") == "WARNING" and s.job_ids() == ["after"]
    s.finish("after")
    assert s.state_now == "WARNING"


def test_pause_delay_from_an_input() -> None:
    # Kestra: PauseTest.delayFromInput
    s = Scenario(
        PAUSE_DELAY.replace("delay: PT10S", 'delay: "{{ inputs.wait }}"').replace(
            "tasks:", "inputs:\n  - id: wait\n    type: DURATION\ntasks:", 1
        ),
        inputs={"wait": "PT3S"},
    )
    s.start()
    assert s.due_in() == [(3.0, "Resume")]


def test_a_pause_whose_delay_does_not_parse_fails() -> None:
    # A literal `delay: soon` is refused at load; an expression is judged once rendered.
    s = Scenario(PAUSE_DELAY.replace("delay: PT10S", "delay: \"{{ 'soon' }}\""))
    s.start()
    assert s.state("wait") == "FAILED" and s.state_now == "FAILED"
    assert any(m.startswith("wait: ") for m in s.messages("ERROR"))


def test_a_pause_with_tasks_runs_them_after_the_resume() -> None:
    s = Scenario(
        _flow(
            f"""
  - id: wait
    type: {FLOW}.Pause
    tasks:
      - id: inside
        type: {LOG}
        message: inside
"""
        )
    )
    s.start()
    assert s.state_now == "PAUSED" and s.jobs == []
    s.resume()
    assert s.state("wait") == "RUNNING" and s.job_ids() == ["inside"]
    s.finish("inside")
    assert s.state("wait") == "SUCCESS" and s.state_now == "SUCCESS"


# -- WaitFor / LoopUntil ----------------------------------------------------------------------
def _waitfor(extra: str = "", condition: str = "{{ outputs.probe.value == 'ready' }}") -> str:
    return _flow(
        f"""
  - id: loop
    type: {FLOW}.WaitFor
    condition: "{condition}"
    checkFrequency:
      interval: PT2S
      maxIterations: 3
{extra}    tasks:
      - id: probe
        type: {RETURN}
        format: x
"""
    )


def test_waitfor_runs_its_tasks_again_every_interval_until_the_condition_holds() -> None:
    # Kestra: WaitForCaseTest.waitfor
    s = Scenario(_waitfor())
    s.start()
    assert s.job_ids() == ["probe"] and s.run("loop").outputs == {"iterationCount": 1}
    s.finish("probe", outputs={"value": "no"})
    assert s.jobs == [] and s.due_in() == [(2.0, "ContinueLoop")]
    assert s.state("loop") == "RUNNING"
    s.tick(2)
    assert s.job_ids() == ["probe"] and s.run("loop").outputs == {"iterationCount": 2}
    s.finish("probe", outputs={"value": "ready"})
    assert s.state("loop") == "SUCCESS" and s.state_now == "SUCCESS"
    runs = s.runs("probe")
    assert len(runs) == 2 and runs[0].k_branch == 4, "the first iteration's run is archived"


def test_waitfor_stops_at_max_iterations_successfully_by_default() -> None:
    # Kestra: WaitForCaseTest.waitforNoSuccess
    s = Scenario(_waitfor())
    s.start()
    for _ in range(2):
        s.finish("probe", outputs={"value": "no"})
        s.tick(2)
    s.finish("probe", outputs={"value": "no"})
    assert s.state("loop") == "SUCCESS" and s.run("loop").outputs["iterationCount"] == 3
    assert s.pending == []


def test_waitfor_fails_at_max_iterations_with_fail_on_max_reached() -> None:
    # Kestra: WaitForCaseTest.waitforMaxIterations
    s = Scenario(_waitfor("    failOnMaxReached: true\n"))
    s.start()
    for _ in range(2):
        s.finish("probe", outputs={"value": "no"})
        s.tick(2)
    s.finish("probe", outputs={"value": "no"})
    assert s.state("loop") == "FAILED" and s.state_now == "FAILED"
    assert "condition still false after 3 iterations" in s.messages("ERROR")
    # Kestra 1.x: LoopUntilCaseTest#waitforMaxIterations reads iterationCount 4
    assert s.run("loop").outputs["iterationCount"] == 4


def test_waitfor_stops_at_max_duration() -> None:
    # Kestra: WaitForCaseTest.waitforMaxDuration
    source = _waitfor("    failOnMaxReached: true\n").replace(
        "maxIterations: 3", "maxIterations: 100\n      maxDuration: PT5S"
    )
    s = Scenario(source)
    s.start()
    s.finish("probe", outputs={"value": "no"}, took=1)
    s.tick(2)
    s.finish("probe", outputs={"value": "no"}, took=1)
    assert s.state("loop") == "RUNNING", "4 s elapsed"
    s.tick(2)
    s.finish("probe", outputs={"value": "no"})
    assert s.state("loop") == "FAILED", "6 s elapsed"


def test_waitfor_ends_with_a_failed_iteration_without_looping() -> None:
    # Kestra: WaitForCaseTest.waitforMultipleTasksFailed
    s = Scenario(_waitfor())
    s.start()
    s.finish("probe", "FAILED")
    assert s.state("loop") == "FAILED" and s.pending == []


def test_waitfor_whose_condition_does_not_render_fails() -> None:
    s = Scenario(_waitfor(condition="{{ nope.nope }}"))
    s.start()
    s.finish("probe")
    assert s.state("loop") == "FAILED"
    assert any(m.startswith("condition: ") for m in s.messages("ERROR"))


def test_loop_until_is_waitfor() -> None:
    s = Scenario(_waitfor().replace(f"{FLOW}.WaitFor", f"{FLOW}.LoopUntil"))
    s.start()
    s.finish("probe", outputs={"value": "ready"})
    assert s.state_now == "SUCCESS"


# -- WorkingDirectory -------------------------------------------------------------------------
WORKDIR = _flow(
    f"""
  - id: wd
    type: {FLOW}.WorkingDirectory
    tasks:
      - id: one
        type: {LOG}
        message: one
      - id: two
        type: {LOG}
        message: two
    errors:
      - id: cleanup
        type: {LOG}
        message: cleanup
"""
)


def _dynamic(s: Scenario, *runs: tuple[str, str]) -> list[DynamicRun]:
    at = s.clock.iso()
    return [
        DynamicRun(
            id=f"dyn-{task_id}",
            task_id=task_id,
            state=state,
            histories=[History(state="RUNNING", date=at), History(state=state, date=at)],
            outputs={"ran": task_id},
        )
        for task_id, state in runs
    ]


def test_working_directory_is_one_job_whose_result_brings_its_children() -> None:
    # Kestra: WorkingDirectoryTest.success
    s = Scenario(WORKDIR)
    s.start()
    assert s.job_ids() == ["wd"]
    dynamic = _dynamic(s, ("one", "SUCCESS"), ("two", "SUCCESS"))
    s.send(s.result("wd", dynamic=dynamic))
    assert s.states() == {"wd": "SUCCESS", "one": "SUCCESS", "two": "SUCCESS"}
    assert s.run("two").parent_task_run_id == s.run("wd").id
    assert s.run("one").outputs == {"ran": "one"}
    assert s.state_now == "SUCCESS"


def test_working_directory_failure_runs_its_errors() -> None:
    # Kestra: WorkingDirectoryTest.failed
    s = Scenario(WORKDIR)
    s.start()
    s.send(s.result("wd", "FAILED", dynamic=_dynamic(s, ("one", "FAILED"))))
    assert s.job_ids() == ["cleanup"]
    s.finish("cleanup")
    assert s.state("wd") == "FAILED" and s.state_now == "FAILED"


def test_working_directory_failing_before_any_child_fails_at_once() -> None:
    s = Scenario(WORKDIR)
    s.start()
    s.finish("wd", "FAILED")
    assert s.states() == {"wd": "FAILED"} and s.state_now == "FAILED"


@pytest.mark.parametrize("policy,sibling", [("CANCEL", "CANCELLED"), ("FAIL", "FAILED")])
def test_on_child_failure_interrupts_the_running_siblings(policy: str, sibling: str) -> None:
    # Kestra 1.x: OnChildFailureInterface (Parallel, Dag, ForEach `onChildFailure`)
    s = Scenario(
        f"""id: f
namespace: tests.flowables
tasks:
  - id: par
    type: io.kestra.plugin.core.flow.Parallel
    onChildFailure: {policy}
    tasks:
      - id: slow
        type: io.kestra.plugin.core.log.Log
        message: slow
      - id: bad
        type: io.kestra.plugin.core.log.Log
        message: bad
"""
    )
    s.start()
    s.finish("bad", "FAILED")
    assert s.state("slow") == sibling and s.state("par") == "FAILED"
    assert s.state_now == "FAILED"


def test_dag_concurrent_may_be_an_expression() -> None:
    # Kestra: Dag `concurrent` is a Property<Integer>
    s = Scenario(
        """id: f
namespace: tests.flowables
inputs:
  - id: n
    type: INT
    defaults: 1
tasks:
  - id: dag
    type: io.kestra.plugin.core.flow.Dag
    concurrent: "{{ inputs.n }}"
    tasks:
      - task:
          id: a
          type: io.kestra.plugin.core.log.Log
          message: a
      - task:
          id: b
          type: io.kestra.plugin.core.log.Log
          message: b
""",
        inputs={"n": 1},
    )
    s.start()
    assert s.job_ids() == ["a"], "one at a time"


def test_a_dag_chain_through_a_disabled_task_does_not_hang() -> None:
    # Kestra: disabled tasks are left out; their dependents start (issue 12, Dag chains)
    s = Scenario(
        """id: f
namespace: tests.flowables
tasks:
  - id: dag
    type: io.kestra.plugin.core.flow.Dag
    tasks:
      - task:
          id: a
          type: io.kestra.plugin.core.log.Log
          message: a
      - task:
          id: off
          type: io.kestra.plugin.core.log.Log
          message: off
          disabled: true
        dependsOn: [a]
      - task:
          id: c
          type: io.kestra.plugin.core.log.Log
          message: c
        dependsOn: [off]
"""
    )
    s.start()
    s.finish("a")
    assert s.job_ids() == ["c"]
    s.finish("c")
    assert s.state_now == "SUCCESS" and "off" not in s.states()
