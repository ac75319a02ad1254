"""The transition tables and rules on their own: what each allows, what it refuses and how
it says so (the messages users see through the API, the CLI and task errors)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kestrad.model import state as S
from kestrad.model.execution import Execution, TaskRun
from kestrad.model.retry import Retry
from kestrad.model.state import StateInfo
from kestrad.runtime import transitions as T

NOT_ENDED = [s for s in S.ALL_STATES if s not in S.TERMINATED]
ENDED = sorted(S.TERMINATED)
DATE = "2026-01-01T00:00:00.000000Z"


def _execution(state: str, runs: list[TaskRun] | None = None) -> Execution:
    execution = Execution.new(namespace="tests", flow_id="f", flow_revision=1, execution_id="e1")
    execution.state = StateInfo.new(state, DATE)
    execution.task_run_list = runs or []
    return execution


def _run(state: str, run_id: str = "r1") -> TaskRun:
    return TaskRun(
        id=run_id,
        execution_id="e1",
        namespace="tests",
        flow_id="f",
        task_id="t",
        state=StateInfo.new(state, DATE),
    )


# -- tables --------------------------------------------------------------------------------------
def test_every_transition_a_rule_guards_is_in_its_table() -> None:
    for rule in T.RULES:
        for guard in rule.guards:
            for source in guard.sources:
                assert guard.subject.allows(source, guard.target), (rule.name, source, guard)


@pytest.mark.parametrize("end", [*ENDED])
def test_an_ended_execution_only_restarts(end: str) -> None:
    if end == S.SKIPPED:
        assert T.EXECUTION.allowed.get(end) is None
        return
    assert T.EXECUTION.allowed[end] == {S.RESTARTED}


def test_a_successful_task_run_never_changes_again() -> None:
    for end in (S.SUCCESS, S.WARNING, S.SKIPPED, S.RETRIED):
        assert not T.TASK_RUN.allowed.get(end)


def test_only_executions_go_killing_and_only_task_runs_are_skipped() -> None:
    assert all(S.KILLING not in targets for targets in T.TASK_RUN.allowed.values())
    assert all(S.SKIPPED not in targets for targets in T.EXECUTION.allowed.values())


def test_move_records_the_date_and_refuses_what_the_table_does_not_list() -> None:
    info = StateInfo.new(S.CREATED, DATE)
    assert T.move(info, S.RUNNING, "2026-01-01T00:00:01.000000Z", T.EXECUTION)
    assert info.histories[-1].date == "2026-01-01T00:00:01.000000Z"
    assert not T.move(info, S.RUNNING, "later", T.EXECUTION), "same state: no new history"
    T.move(info, S.SUCCESS, DATE, T.EXECUTION)
    with pytest.raises(T.IllegalTransition, match="execution cannot go from SUCCESS to RUNNING"):
        T.move(info, S.RUNNING, DATE, T.EXECUTION)
    assert info.current == S.SUCCESS and len(info.histories) == 3


def test_a_retrying_run_goes_back_to_created_but_nothing_else_does() -> None:
    sources = {a for a, b in T.TASK_RUN.pairs() if b == S.CREATED}
    assert sources == {S.RETRYING}


def test_fail_after_error_fails_from_anywhere() -> None:
    info = StateInfo.new(S.SUCCESS, DATE)
    assert T.fail_after_error(info, DATE) and info.current == S.FAILED


# -- command rules -------------------------------------------------------------------------------
@pytest.mark.parametrize("state", NOT_ENDED)
def test_kill_accepts_what_has_not_ended(state: str) -> None:
    assert T.KILL.check(_execution(state)) is None


@pytest.mark.parametrize("state", ENDED)
def test_kill_refuses_an_ended_execution(state: str) -> None:
    refusal = T.KILL.check(_execution(state))
    assert refusal == T.Refusal("kill", f"Execution already ended ({state})", 409)


def test_resume_wants_a_paused_execution() -> None:
    assert T.RESUME.check(_execution(S.PAUSED)) is None
    for state in S.ALL_STATES:
        if state != S.PAUSED:
            refusal = T.RESUME.check(_execution(state))
            assert refusal is not None and refusal.message == f"Execution is not paused ({state})"
            assert refusal.status == 409


def test_a_delayed_resume_wants_its_own_run_still_paused() -> None:
    execution = _execution(S.RUNNING)
    assert T.RESUME.check(execution, _run(S.PAUSED)) is None
    refusal = T.RESUME.check(execution, _run(S.SUCCESS))
    assert refusal is not None and refusal.message == "Task run is not paused (SUCCESS)"


@pytest.mark.parametrize("state", [*(s for s in ENDED if s != S.SKIPPED), S.PAUSED])
def test_restart_accepts_an_ended_or_paused_execution(state: str) -> None:
    assert T.RESTART.check(_execution(state)) is None


@pytest.mark.parametrize("state", [S.CREATED, S.QUEUED, S.RUNNING, S.RETRYING, S.KILLING])
def test_restart_refuses_a_live_execution(state: str) -> None:
    refusal = T.RESTART.check(_execution(state))
    assert refusal is not None
    assert refusal.message == f"Only an ended or paused execution restarts ({state})"


def test_restart_reruns_what_failed_was_killed_cancelled_or_paused() -> None:
    rerun = {s for s in S.ALL_STATES if T.RESTART.reruns(_run(s))}
    assert rerun == {S.FAILED, S.KILLED, S.CANCELLED, S.PAUSED}


def test_replay_from_a_task_run_of_another_execution_is_refused_as_unprocessable() -> None:
    execution = _execution(S.FAILED, [_run(S.FAILED, "mine")])
    assert T.REPLAY.check(execution, None) is None
    assert T.REPLAY.check(execution, "mine") is None
    refusal = T.REPLAY.check(execution, "other")
    assert refusal == T.Refusal("replay", "task run other is not part of execution e1", 422)


# -- executor rules ------------------------------------------------------------------------------
def test_pause_needs_a_running_execution() -> None:
    for state in (S.RUNNING, S.RETRYING, S.PAUSED):
        assert T.PAUSE.check(_execution(state)) is None
    refusal = T.PAUSE.check(_execution(S.KILLING))
    assert refusal is not None and refusal.rule == "pause"


def test_a_pause_times_out_only_while_paused() -> None:
    assert T.PAUSE_TIMEOUT.check(_run(S.PAUSED)) is None
    for state in (S.RUNNING, S.SUCCESS, S.KILLED):
        assert T.PAUSE_TIMEOUT.check(_run(state)) is not None


def test_retry_constant_until_max_attempt() -> None:
    # Kestra's RetryCaseTest.retryFailed: maxAttempt counts every attempt, the first included.
    policy = Retry(type="constant", interval="PT5S", max_attempt=3)
    assert T.RETRY.check(policy, 1, DATE, DATE) == timedelta(seconds=5)
    assert T.RETRY.check(policy, 2, DATE, DATE) == timedelta(seconds=5)
    refusal = T.RETRY.check(policy, 3, DATE, DATE)
    assert isinstance(refusal, T.Refusal) and refusal.rule == "retry"


def test_retry_exponential_doubles_up_to_its_max_interval() -> None:
    policy = Retry(type="exponential", interval="PT1S", max_interval="PT5S", max_attempt=10)
    delays = [T.RETRY.check(policy, n, DATE, DATE) for n in range(1, 6)]
    assert delays == [timedelta(seconds=s) for s in (1, 2, 4, 5, 5)]


def test_retry_max_duration_counts_from_the_first_start_to_the_next_attempt() -> None:
    policy = Retry(type="constant", interval="PT10S", max_duration="PT30S")
    start = "2026-01-01T00:00:00.000000Z"
    assert T.RETRY.check(policy, 1, start, "2026-01-01T00:00:20.000000Z") == timedelta(seconds=10)
    late = T.RETRY.check(policy, 2, start, "2026-01-01T00:00:21.000000Z")
    assert isinstance(late, T.Refusal)


def test_a_retry_is_due_only_while_its_run_is_retrying() -> None:
    assert T.RETRY.due(_run(S.RETRYING)) is None
    assert T.RETRY.due(_run(S.KILLED)) is not None


@pytest.mark.parametrize(
    "behavior,state",
    [(None, S.QUEUED), ("QUEUE", S.QUEUED), ("CANCEL", S.CANCELLED), ("FAIL", S.FAILED)],
)
def test_admission_holds_or_refuses_at_the_limit(behavior: str | None, state: str) -> None:
    assert T.ADMISSION.check(2, behavior, 1) is None
    refusal = T.ADMISSION.check(2, behavior, 2)
    assert refusal is not None and refusal.state == state
    assert refusal.message == f"flow concurrency limit 2 reached: {state}"


def test_admission_lets_an_execution_being_killed_through() -> None:
    assert T.ADMISSION.check(1, "FAIL", 5, killing=True) is None
