"""Which state changes executions and task runs may make, and the rules deciding commands.

Two parts, in the spirit of Prefect's orchestration policies:

- **Tables** (`EXECUTION`, `TASK_RUN`, `ATTEMPT`): every state an execution, a task run or
  an attempt may go to from each state. `advance` and the executor change states only
  through `move`, which raises `IllegalTransition` for a change the table does not list.
  Such a change is a bug in the executor, never a user error: `advance` does not catch it,
  and the executor turns any exception of `advance` into that one execution ending FAILED
  with an "internal error" log line (see `executor.Executor._advance_one`). So a bug ends
  one execution loudly — restartable, visible in its logs — and never takes the daemon
  down; refusing silently instead would leave `advance` believing in a state the
  execution is not in (dispatching the tasks of an execution that stayed SUCCESS, or
  looping until its pass guard), and applying it anyway would hide the bug.
  `StateInfo.set` itself stays unchecked: the model cannot know which table a state
  belongs to, and worker reports and decoders build histories they only carry.

- **Rules**: small objects, one per decision (kill, resume, restart, replay, pause, pause
  timeout, retry, concurrency admission), each naming the transitions it guards and
  answering `None` (accept) or a `Refusal` carrying the message users see and the HTTP
  status the API answers with. The commands module (API, CLI, task services) and
  `advance` (the same command arriving as an event, possibly late or twice) ask the same
  rule; where a command is refused `advance` ignores the event, as Kestra does.

Kestra's reference is `io.kestra.core.models.flows.State` (its `isTerminated`,
`isRestartable`, …); Kestra has no explicit table, the one below lists what its executor
(and ours) actually does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import NamedTuple

from kestrad.model import state as S
from kestrad.model.execution import Execution, TaskRun
from kestrad.model.retry import Retry
from kestrad.model.state import StateInfo, parse_iso
from kestrad.tasks.flowable_support import apply_allowances


class IllegalTransition(RuntimeError):
    """A state change no table allows: a bug in the executor (see the module docstring)."""


class Moves:
    """The states each state may go to, for one kind of subject."""

    __slots__ = ("allowed", "subject")

    def __init__(self, subject: str, allowed: Mapping[str, Iterable[str]]) -> None:
        self.subject = subject
        self.allowed: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in allowed.items()}

    def allows(self, current: str, target: str) -> bool:
        return target == current or target in self.allowed.get(current, ())

    def pairs(self) -> set[tuple[str, str]]:
        return {(a, b) for a, targets in self.allowed.items() for b in targets}


_ENDS = (S.SUCCESS, S.WARNING, S.FAILED, S.KILLED, S.CANCELLED)

EXECUTION = Moves(
    "execution",
    {
        # Admission: RUNNING, or QUEUED / CANCELLED / FAILED by the flow's concurrency;
        # FAILED also when its flow revision is gone; KILLING when killed before starting.
        S.CREATED: (S.RUNNING, S.QUEUED, S.CANCELLED, S.FAILED, S.KILLING),
        S.QUEUED: (S.RUNNING, S.CANCELLED, S.FAILED, S.KILLING),
        S.RUNNING: (S.PAUSED, S.RETRYING, S.RETRIED, S.KILLING, *_ENDS),
        # Resumed, or a parallel branch's retry, a kill, a restart, an SLA.
        S.PAUSED: (S.RUNNING, S.RETRYING, S.RETRIED, S.KILLING, S.RESTARTED, S.FAILED, S.CANCELLED),
        # A retry's delay passes, or the other branches go on (pause, end, Exit, SLA).
        S.RETRYING: (S.RUNNING, S.PAUSED, S.RETRIED, S.KILLING, *_ENDS),
        # Killed, or an SLA ending it first.
        S.KILLING: (S.KILLED, S.FAILED, S.CANCELLED),
        S.RESTARTED: (S.RUNNING, S.FAILED, S.KILLING),
        # An ended execution only restarts.
        **{end: (S.RESTARTED,) for end in (*_ENDS, S.RETRIED)},
    },
)

TASK_RUN = Moves(
    "task run",
    {
        # Started (the worker's report, a flowable, Pause, Subflow), skipped by `runIf`,
        # or ended before it started (kill, Exit, SLA, a timeout that does not render).
        S.CREATED: (S.RUNNING, S.SKIPPED, *_ENDS),
        S.SUBMITTED: (S.RUNNING, S.SKIPPED, *_ENDS),
        S.RUNNING: (S.PAUSED, S.RETRYING, S.RETRIED, *_ENDS),
        # Resumed, timed out, killed, restarted, or ended by an Exit in another branch.
        S.PAUSED: (S.RUNNING, S.RESTARTED, *_ENDS),
        # The delay passes (a new attempt), or the execution ends meanwhile.
        S.RETRYING: (S.CREATED, *_ENDS),
        # Restarted runnables report their end directly; flowables and subflows run again.
        S.RESTARTED: (S.RUNNING, S.RETRYING, S.RETRIED, *_ENDS),
        # Only what failed, was killed, cancelled (or paused) runs again on restart.
        S.FAILED: (S.RESTARTED,),
        S.KILLED: (S.RESTARTED,),
        S.CANCELLED: (S.RESTARTED,),
    },
)

ATTEMPT = Moves(
    "attempt",
    # RESUBMITTED: lost with its worker; the job went out again as the next attempt.
    {S.CREATED: (S.RUNNING, S.RESUBMITTED, *_ENDS), S.RUNNING: (S.RESUBMITTED, *_ENDS)},
)


def move(info: StateInfo, target: str, date: str, moves: Moves) -> bool:
    """Change `info` to `target` at `date`; False when it was already there.

    Raises IllegalTransition when `moves` does not allow it.
    """
    current = info.current
    if target == current and info.histories:
        return False
    if target not in moves.allowed.get(current, ()):
        raise IllegalTransition(f"{moves.subject} cannot go from {current} to {target}")
    return info.set(target, date)


def fail_after_error(info: StateInfo, date: str) -> bool:
    """The one unchecked change: the executor ends an execution FAILED when `advance`
    raised on it (a bug), whatever state it was left in."""
    return info.set(S.FAILED, date)


# -- rules ----------------------------------------------------------------------------------------
class Refusal(NamedTuple):
    """A rule's no: which rule, the message users see, the HTTP status the API answers with,
    and (for admission) the state the subject goes to instead."""

    rule: str
    message: str
    status: int = 409
    state: str | None = None


class Guard(NamedTuple):
    """A transition a rule decides: the subject, the states it may come from, the target."""

    subject: Moves
    sources: frozenset[str]
    target: str


# The states an execution is in before it ends (never SUBMITTED, a task-run state).
_LIVE = frozenset(EXECUTION.allowed) - S.TERMINATED


class KillRule:
    """Kill: any execution that has not ended goes KILLING (then KILLED, its runs too)."""

    name = "kill"
    guards = (Guard(EXECUTION, _LIVE, S.KILLING),)

    def check(self, execution: Execution) -> Refusal | None:
        if execution.terminated:
            return Refusal(self.name, f"Execution already ended ({execution.state.current})")
        return None


class ResumeRule:
    """Resume: a PAUSED execution goes RUNNING with its paused runs; a Pause's own delay
    resumes only its run, and only while that run is still paused."""

    name = "resume"
    guards = (
        Guard(EXECUTION, frozenset({S.PAUSED}), S.RUNNING),
        Guard(TASK_RUN, frozenset({S.PAUSED}), S.RUNNING),
    )

    def check(self, execution: Execution, task_run: TaskRun | None = None) -> Refusal | None:
        if task_run is not None:
            if task_run.state.current != S.PAUSED:
                return Refusal(self.name, f"Task run is not paused ({task_run.state.current})")
            return None
        if execution.state.current != S.PAUSED:
            return Refusal(self.name, f"Execution is not paused ({execution.state.current})")
        return None


class RestartRule:
    """Restart (Kestra's): an ended or paused execution runs again, same id; its runs that
    failed, were killed, cancelled or paused run again with a new attempt."""

    name = "restart"
    # Every end an execution has (SKIPPED is a task run's only), and PAUSED.
    sources = (S.TERMINATED - {S.SKIPPED}) | {S.PAUSED}
    runs = frozenset({S.FAILED, S.KILLED, S.PAUSED, S.CANCELLED})
    guards = (
        Guard(EXECUTION, sources, S.RESTARTED),
        Guard(TASK_RUN, runs, S.RESTARTED),
    )

    def check(self, execution: Execution) -> Refusal | None:
        if execution.state.current not in self.sources:
            return Refusal(
                self.name,
                f"Only an ended or paused execution restarts ({execution.state.current})",
            )
        return None

    def reruns(self, run: TaskRun) -> bool:
        """Whether this run of a restarted execution runs again."""
        return run.state.current in self.runs


class ReplayRule:
    """Replay: a new execution of any execution, from the start or from one of its runs.

    It changes no state of the source (the replay starts CREATED, see runtime/replay.py):
    it only checks that the run to replay from belongs to the execution.
    """

    name = "replay"
    guards: tuple[Guard, ...] = ()

    def check(self, execution: Execution, task_run_id: str | None) -> Refusal | None:
        if task_run_id is None or any(r.id == task_run_id for r in execution.task_run_list):
            return None
        return Refusal(
            self.name, f"task run {task_run_id} is not part of execution {execution.id}", 422
        )


class PauseRule:
    """Pause: a Pause task's run goes PAUSED and so does its running execution; it comes
    back by a resume (command or its `delay`), or fails at its `timeout`."""

    name = "pause"
    sources = frozenset({S.RUNNING, S.RETRYING, S.PAUSED})
    guards = (
        Guard(TASK_RUN, frozenset({S.RUNNING}), S.PAUSED),
        Guard(EXECUTION, frozenset({S.RUNNING, S.RETRYING}), S.PAUSED),
    )

    def check(self, execution: Execution) -> Refusal | None:
        if execution.state.current not in self.sources:
            return Refusal(self.name, f"Execution cannot pause ({execution.state.current})")
        return None


class PauseRequestRule:
    """An operator's pause: a RUNNING (or RETRYING) execution goes PAUSED; its running task
    runs end as they would, nothing new starts until it is resumed (`ResumeRule`)."""

    name = "pause request"
    guards = (Guard(EXECUTION, frozenset({S.RUNNING, S.RETRYING}), S.PAUSED),)

    def check(self, execution: Execution) -> Refusal | None:
        if execution.state.current not in (S.RUNNING, S.RETRYING):
            return Refusal(
                self.name, f"Only a running execution can be paused ({execution.state.current})"
            )
        return None


class PauseTimeoutRule:
    """A Pause's `timeout`: its run fails if it is still paused when the timeout is due
    (WARNING with `allowFailure`, as any failed task; Kestra's PauseTest.runTimeout and
    runTimeoutAllowFailure)."""

    name = "pause timeout"
    message = "Pause timed out"
    guards = (
        Guard(TASK_RUN, frozenset({S.PAUSED}), S.FAILED),
        Guard(TASK_RUN, frozenset({S.PAUSED}), S.WARNING),
        Guard(TASK_RUN, frozenset({S.PAUSED}), S.SUCCESS),
    )

    def check(self, task_run: TaskRun) -> Refusal | None:
        if task_run.state.current != S.PAUSED:
            return Refusal(self.name, f"Task run is no longer paused ({task_run.state.current})")
        return None

    def end_state(self, allow_failure: bool, allow_warning: bool) -> str:
        return apply_allowances(S.FAILED, allow_failure, allow_warning)


class RetryRule:
    """Retry: a failed run goes RETRYING (again after a delay) while its policy allows one
    more attempt; with CREATE_NEW_EXECUTION the execution ends RETRIED and a new one runs.

    `maxAttempts` counts every attempt, the first included; `maxDuration` bounds the time
    from the first attempt's start to the next one's (Kestra's AbstractRetry).
    """

    name = "retry"
    guards = (
        Guard(TASK_RUN, frozenset({S.RUNNING, S.RESTARTED}), S.RETRYING),
        Guard(EXECUTION, frozenset({S.RUNNING, S.PAUSED, S.RETRYING}), S.RETRYING),
        Guard(EXECUTION, frozenset({S.RUNNING, S.PAUSED, S.RETRYING}), S.RETRIED),
    )

    def check(self, policy: Retry, attempts: int, first: str, last: str) -> timedelta | Refusal:
        """The delay before attempt `attempts + 1`, or a refusal once the policy is spent.

        Raises DurationError when the policy's durations do not parse.
        """
        delay = policy.next_delay(attempts)
        elapsed = parse_iso(last) - parse_iso(first)
        if not policy.allows(attempts, elapsed, delay):
            return Refusal(self.name, f"no attempt left after {attempts}")
        return delay

    def due(self, task_run: TaskRun) -> Refusal | None:
        """A retry's delay passed: the run goes again only if it is still RETRYING (a kill
        or an Exit may have ended it meanwhile)."""
        if task_run.state.current != S.RETRYING:
            return Refusal(self.name, f"Task run is no longer retrying ({task_run.state.current})")
        return None


class AdmissionRule:
    """Flow `concurrency`: a CREATED or QUEUED execution starts only while fewer than
    `limit` executions of its flow run; otherwise it waits (QUEUE) or ends (CANCEL, FAIL).
    One that is being killed is let through at once, to end KILLED.

    `running` is the count the executor read in its own transaction, corrected for what
    its batch already admitted or ended (runtime/concurrency.py keeps that book).
    """

    name = "concurrency admission"
    sources = frozenset({S.CREATED, S.QUEUED})
    held = {"QUEUE": S.QUEUED, "CANCEL": S.CANCELLED, "FAIL": S.FAILED}
    guards = (
        Guard(EXECUTION, sources, S.RUNNING),
        Guard(EXECUTION, sources, S.QUEUED),
        Guard(EXECUTION, sources, S.CANCELLED),
        Guard(EXECUTION, sources, S.FAILED),
    )

    def check(
        self, limit: int, behavior: str | None, running: int, *, killing: bool = False
    ) -> Refusal | None:
        if killing or running < limit:
            return None
        state = self.held[behavior or "QUEUE"]
        return Refusal(self.name, f"flow concurrency limit {limit} reached: {state}", state=state)


KILL = KillRule()
RESUME = ResumeRule()
RESTART = RestartRule()
REPLAY = ReplayRule()
PAUSE = PauseRule()
PAUSE_REQUEST = PauseRequestRule()
PAUSE_TIMEOUT = PauseTimeoutRule()
RETRY = RetryRule()
ADMISSION = AdmissionRule()

# Every rule, in the order the executor meets them in an execution's life.
RULES = (ADMISSION, PAUSE, PAUSE_REQUEST, PAUSE_TIMEOUT, RESUME, RETRY, KILL, RESTART, REPLAY)
