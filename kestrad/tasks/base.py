"""The base of every task type: the properties all Kestra tasks share.

A task class is a msgspec Struct (so unknown properties are errors, as in Kestra's strict
parse) plus class-level facts the loader and executor need: which fields hold child task
lists, and whether the task runs on a worker or inside the executor.
"""

from __future__ import annotations

import enum
from datetime import timedelta
from typing import Any, ClassVar

import msgspec

from kestrad.model.execution import TaskRun
from kestrad.model.messages import TaskResult
from kestrad.model.retry import Retry
from kestrad.tasks.context import RunContext
from kestrad.tasks.flowable_support import (
    ERRORS,
    FINALLY,
    ExecutionView,
    FlowView,
    LoopAgain,
    Phase,
    Resolved,
    Start,
    resolve_list,
    sequential_nexts,
)
from kestrad.tasks.props import Duration

# A list of tasks inside a task (If.then, ForEach.tasks, …). msgspec cannot convert an
# already-built Struct into a base-class field, so the loader converts children itself and
# the field is typed `list[Any]`; at run time it always holds Task instances.
TaskList = list[Any]


class TaskKind(enum.Enum):
    """Where a task runs: on a worker, or resolved inline by the executor."""

    RUNNABLE = "runnable"
    FLOWABLE = "flowable"
    EXECUTION_UPDATING = "execution-updating"
    EXECUTABLE = "executable"  # creates another execution (Subflow)


class Task(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """Properties common to all tasks (KESTRA-SPEC §2.1)."""

    id: str
    type: str
    description: str | None = None
    disabled: bool = False
    retry: Retry | None = None
    timeout: Duration | None = None
    allow_failure: bool = False
    allow_warning: bool = False
    run_if: str | None = None
    # Kestra 1.x's conditional execution, beside `runIf`: the task runs only when both hold.
    when: str | None = None
    log_level: str | None = None
    log_to_file: bool = False
    worker_group: dict[str, Any] | None = None

    kind: ClassVar[TaskKind] = TaskKind.RUNNABLE
    # Python attribute names of fields holding TaskList values, in the order they are walked.
    child_fields: ClassVar[tuple[str, ...]] = ()

    def run_conditions(self) -> list[tuple[str, Any]]:
        """(property name, expression) of `runIf` and `when`, those that are set: a run is
        SKIPPED unless each renders truthy, and fails when one does not render."""
        return [
            (name, value)
            for name, value in (("runIf", self.run_if), ("when", self.when))
            if value is not None and value is not True
        ]

    def child_lists(self) -> list[tuple[str, list[Task]]]:
        """Every (field name, task list) this task holds, for tree walks and validation."""
        out: list[tuple[str, list[Task]]] = []
        for name in self.child_fields:
            value = getattr(self, name, None)
            if value:
                out.append((name, value))
        return out


class RunnableTask(Task, kw_only=True):
    """A task executed by a worker through `run(ctx)`."""

    kind: ClassVar[TaskKind] = TaskKind.RUNNABLE

    def timer(self, fx: Any, run: Any) -> timedelta | None:
        """How long this task only waits, for a task that does nothing else (Sleep): the
        executor then ends it with a durable delayed event instead of holding a worker slot
        for the whole wait. None (the default): it runs on a worker. `fx` renders
        properties for `run`, as for flowables; a bad property raises ExpressionError."""
        return None

    async def run(
        self, ctx: RunContext
    ) -> dict[str, Any] | None:  # ctx: runtime.context.RunContext
        raise NotImplementedError


class FlowableTask(Task, kw_only=True):
    """A task the executor resolves inline: it only decides which children run next."""

    kind: ClassVar[TaskKind] = TaskKind.FLOWABLE
    errors: TaskList | None = None
    finally_: TaskList | None = msgspec.field(default=None, name="finally")


class TaskFailed(Exception):
    """Raised by a runnable task to end its attempt FAILED (optionally still with outputs)."""

    def __init__(self, message: str, outputs: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.outputs = outputs


class TaskOutcome(msgspec.Struct, kw_only=True):
    """What a runnable returns when it ends in a state other than SUCCESS (e.g. WARNING)."""

    outputs: dict[str, Any] | None = None
    state: str = "SUCCESS"


class ExecutionUpdatingTask(Task, kw_only=True):
    """A task the executor applies to its own execution at once (Labels, Exit)."""

    kind: ClassVar[TaskKind] = TaskKind.EXECUTION_UPDATING

    def apply(self, view: ExecutionView, run: TaskRun) -> None:
        """Change the execution through `view`; raise ExpressionError or ValueError to fail
        the run (the execution goes on)."""
        raise NotImplementedError


class Flowable(FlowableTask, kw_only=True):
    """Behaviour shared by the core flowables: the hooks the executor's `advance` calls.

    `advance` knows no concrete flowable; what differs between them is said here:
    - `begin`: how a run starts: resolved inline (the default, after `start` computed its
      outputs or loop values), sent whole to a worker, or pausing the execution;
    - `lists` gives the (tasks, errors, finally) children; `nexts` picks which to create now;
    - `settle`: once the children are done, the state to end in, or `LoopAgain`;
    - `next_iteration`: a looping run goes round again (its last children are archived);
    - `apply_result`: a worker's result for a run sent whole;
    - `resumes_children`: whether a resumed (paused) run goes on with its children.
    """

    def begin(self, fx: FlowView, run: TaskRun) -> Start:
        """Start a run; raise ExpressionError (or DurationError) to fail it."""
        self.start(fx, run)
        return Start()

    def start(self, fx: FlowView, run: TaskRun) -> None:
        """Compute the run's outputs or loop values; raise ExpressionError to fail it."""

    def lists(
        self, fx: FlowView, run: TaskRun
    ) -> tuple[list[Resolved], list[Resolved], list[Resolved]]:
        return (
            resolve_list(getattr(self, "tasks", None)),
            resolve_list(self.errors, ERRORS),
            resolve_list(self.finally_, FINALLY),
        )

    def nexts(self, fx: FlowView, run: TaskRun, current: Phase) -> list[Resolved]:
        return sequential_nexts(current.current or [], current.runs)

    def settle(self, fx: FlowView, run: TaskRun, state: str) -> str | LoopAgain:
        """The children are done and would end the run in `state`: end it there (default)."""
        return state

    def next_iteration(self, fx: FlowView, run: TaskRun) -> None:
        """A run that answered `LoopAgain` goes round again, its children archived."""

    def apply_result(self, fx: FlowView, run: TaskRun, result: TaskResult) -> str | None:
        """A worker's end result for a run this task sent whole: the state the run ends in
        now, or None while its children still resolve."""
        return result.state

    def interrupts_children(self) -> str | None:
        """`onChildFailure`: once a child failed, the state its still-running siblings (and
        their children) end in; None lets them run to their end."""
        return None

    def resumes_children(self) -> bool:
        """After a resume: True when the run goes on with its children, False to end it."""
        return False

    def resumed_outputs(
        self, inputs: dict[str, Any] | None, decision: str | None, comment: str | None, date: str
    ) -> dict[str, Any] | None:
        """The outputs a resumed run takes: Pause's `onResume` inputs (None: unchanged)."""
        return {"onResume": inputs} if inputs else None

    def resume_state(self, fx: FlowView, run: TaskRun, automatic: bool) -> str:
        """The state a resumed run takes: RUNNING to go on with its children, else the
        state it ends in. `automatic`: its own delay resumed it, not a person."""
        return "RUNNING" if self.resumes_children() else "SUCCESS"

    def timeout_state(self, fx: FlowView, run: TaskRun) -> str:
        """The state a paused run takes when its timeout is due: RUNNING to go on with its
        children and `errors`, else the state it ends in."""
        return "FAILED"
