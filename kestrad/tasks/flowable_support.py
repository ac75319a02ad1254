"""Shared resolution rules of flowable tasks (Kestra's FlowableUtils), pure and I/O-free.

A flowable holds up to three child lists: `tasks`, `errors` (run when a task failed) and
`finally` (run after the others whatever happened). Each child run records which list it
came from (`k_branch`), so the rules below never match ids across lists.
"""

from __future__ import annotations

import enum
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from kestrad.model import state as S
from kestrad.model.execution import TaskRun
from kestrad.model.messages import DynamicRun

if TYPE_CHECKING:
    from kestrad.tasks.base import Task

TASKS, ERRORS, FINALLY, LISTENERS, ARCHIVED = 0, 1, 2, 3, 4
# Marks on a run's `k_values` (loops keep their values there; a Pause has none): a Pause
# that timed out, or that its `pauseDuration` resumed with `behavior: WARN`.
TIMED_OUT = ["\u0000timed-out"]
WARN_AFTER = ["\u0000warn"]


class Resolved(NamedTuple):
    """A child to run: the task, the loop value it runs for (or None), its list, and the
    index of that value (Kestra's `taskrun.iteration`, for ForEach children)."""

    task: Task
    value: str | None = None
    branch: int = TASKS
    iteration: int | None = None


class FlowView(Protocol):
    """What a flowable may look at (and ask for) while the executor resolves it."""

    def children(self, parent: TaskRun | None) -> list[TaskRun]: ...

    def render(self, run: TaskRun | None, value: Any) -> Any: ...

    def render_typed(self, run: TaskRun | None, value: Any) -> Any: ...

    def log(self, run: TaskRun | None, level: str, message: str) -> None:
        """A line in the execution's logs, written by the executor."""
        ...

    def date(self) -> str:
        """Now, from the executor's clock (never the wall clock: tests move it)."""
        ...

    def adopt(self, run: TaskRun, reported: list[DynamicRun]) -> None:
        """Make the runs a worker reported (a WorkingDirectory's children) children of `run`."""
        ...


class ExecutionView(FlowView, Protocol):
    """What an execution-updating task (Labels, Exit) may change on its execution."""

    def merge_labels(self, pairs: list[tuple[str, str]]) -> None:
        """Add labels, or replace those with the same keys."""
        ...

    def execution_variables(self) -> dict[str, Any]:
        """A copy of the execution's `vars` (the flow's variables until changed)."""
        ...

    def replace_variables(self, variables: dict[str, Any]) -> None:
        """Make `variables` the execution's `vars`, seen by every later task."""
        ...

    def kill_subflows(self) -> None:
        """Ask every subflow execution this one started to be killed."""
        ...

    def end_execution(self, run: TaskRun, state: str) -> None:
        """End the execution at once in `state` (KILLED kills it), `run` included."""
        ...


class StartMode(enum.Enum):
    """How a flowable's run starts."""

    RESOLVE = "resolve"  # the executor resolves its children inline
    DISPATCH = "dispatch"  # sent whole to one worker; its result brings the children
    PAUSE = "pause"  # pauses the execution until resumed


class Start(NamedTuple):
    """A flowable's answer to `begin`: how its run starts and, for a pause, its clocks."""

    mode: StartMode = StartMode.RESOLVE
    resume_after: timedelta | None = None  # PAUSE: resumes by itself after this
    fail_after: timedelta | None = None  # PAUSE: fails if still paused after this
    on_pause: tuple[Resolved, ...] = ()  # PAUSE: children started as it pauses (onPause)


class LoopAgain(NamedTuple):
    """A flowable's answer to `settle`: run the children again after `after`."""

    after: timedelta


def resolve_list(
    tasks: list[Any] | None, branch: int = TASKS, value: str | None = None
) -> list[Resolved]:
    """Enabled tasks of a child list as Resolved entries."""
    return [Resolved(t, value, branch) for t in (tasks or ()) if not t.disabled]


class Phase(NamedTuple):
    """Which child list is active: `current` to run, or `done` with a `failed_early` flag."""

    current: list[Resolved] | None
    runs: list[TaskRun]
    done: bool
    failed_without_errors: bool


def _all_done(resolved: list[Resolved], runs: list[TaskRun]) -> bool:
    return len(runs) >= len(resolved) and all(r.state.current in S.TERMINATED for r in runs)


def phase(
    fx: FlowView,
    parent: TaskRun | None,
    tasks: list[Resolved],
    errors: list[Resolved],
    finally_: list[Resolved],
) -> Phase:
    """Kestra's `findTaskDependingFlowState`, extended with `finally`.

    `tasks` until one of them FAILED, then `errors` (or nothing when there are none), then
    `finally` once the previous list has ended.
    """
    children = fx.children(parent)
    t_runs: list[TaskRun] = []
    e_runs: list[TaskRun] = []
    f_runs: list[TaskRun] = []
    lists = {TASKS: t_runs, ERRORS: e_runs, FINALLY: f_runs}
    for run in children:
        target = lists.get(run.k_branch)
        if target is not None:
            target.append(run)
    failed = bool(e_runs) or any(r.state.current == S.FAILED for r in t_runs)
    if parent is not None and parent.k_values == TIMED_OUT and _all_done(tasks, t_runs):
        failed = True  # a Pause that timed out: its `errors` run once its tasks are done
    failed_without_errors = failed and not errors
    if not failed:
        if not _all_done(tasks, t_runs):
            return Phase(tasks, t_runs, False, False)
    elif errors and not _all_done(errors, e_runs):
        return Phase(errors, e_runs, False, False)
    if finally_ and not _all_done(finally_, f_runs):
        return Phase(finally_, f_runs, False, failed_without_errors)
    return Phase(None, t_runs, True, failed_without_errors)


def sequential_nexts(current: list[Resolved], runs: list[TaskRun]) -> list[Resolved]:
    """The next child of a list run one after the other, or nothing while one is active."""
    if any(r.state.current not in S.TERMINATED for r in runs):
        return []
    if len(runs) < len(current):
        return [current[len(runs)]]
    return []


def parallel_nexts(current: list[Resolved], runs: list[TaskRun], concurrent: int) -> list[Resolved]:
    """Every child not created yet, at most `concurrent` active at once (0 = no limit)."""
    created = {(r.task_id, r.value) for r in runs}
    pending = [c for c in current if (c.task.id, c.value) not in created]
    if concurrent > 0:
        active = sum(1 for r in runs if r.state.current not in S.TERMINATED)
        pending = pending[: max(concurrent - active, 0)]
    return pending


def guess_final_state(runs: list[TaskRun]) -> str:
    """KILLED > FAILED > WARNING > PAUSED > SUCCESS over the given runs."""
    states = {r.state.current for r in runs}
    for candidate in (S.KILLED, S.FAILED, S.WARNING, S.PAUSED):
        if candidate in states:
            return candidate
    return S.SUCCESS


def apply_allowances(state: str, allow_failure: bool, allow_warning: bool) -> str:
    """`allowFailure` turns FAILED into WARNING; `allowWarning` turns WARNING into SUCCESS."""
    if state == S.FAILED and allow_failure:
        state = S.WARNING
    if state == S.WARNING and allow_warning:
        state = S.SUCCESS
    return state


def final_state(
    current: Phase, allow_failure: bool = False, allow_warning: bool = False
) -> str | None:
    """The flowable's end state once its phase is done, else None."""
    if not current.done:
        return None
    state = S.FAILED if current.failed_without_errors else guess_final_state(current.runs)
    return apply_allowances(state, allow_failure, allow_warning)
