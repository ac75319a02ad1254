"""`advance(execution, flow, events)`: the executor's pure state machine.

Given an execution, its flow and the events that arrived for it, decide every new task run,
every state change, the worker jobs to start and the delayed events to schedule. No I/O:
the caller loads and stores. Flowable tasks (If, ForEach, Parallel, …) are resolved here,
inline, so they never cost a queue round trip.

`advance` takes ownership of the execution it is given (the executor decodes a fresh copy
per batch) and returns it changed. It is deterministic: every date and id it makes comes
from its `AdvanceEnv` (clock, id source), so tests replay retries, pauses and loops with a
clock they move (tests/runtime/scenario.py). Every state change is checked against the
tables of runtime/transitions.py, and every command arriving as an event (kill, resume,
restart, a pause's timeout, a retry's due date) is decided by that module's rules. It knows
no concrete task class: what differs between flowables is asked of their hooks
(tasks/base.py: `Flowable`, `ExecutionUpdatingTask`).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from kestrad.expr.engine import ExpressionError, Renderer, truthy
from kestrad.model import state as S
from kestrad.model.durations import DurationError, format_duration, parse_duration
from kestrad.model.execution import (
    Attempt,
    Execution,
    ExecutionTrigger,
    Label,
    TaskRun,
    label_pairs,
    label_text,
    new_task_run,
)
from kestrad.model.flow import Flow
from kestrad.model.ids import new_id
from kestrad.model.messages import (
    ContinueLoop,
    DynamicRun,
    ExecutionEvent,
    Kill,
    PauseRequest,
    PauseTimeout,
    Restart,
    Resume,
    RetryDue,
    SlaDue,
    SubflowEnded,
    TaskResult,
    WorkerJob,
)
from kestrad.model.state import History, StateInfo, iso_from_epoch
from kestrad.runtime import transitions as T
from kestrad.runtime.variables import (
    ExecutionIndex,
    base_variables,
    execution_vars,
    outputs_snapshot,
    referenced_outputs,
    run_variables,
)
from kestrad.tasks.base import ExecutionUpdatingTask, Flowable, Task, TaskKind
from kestrad.tasks.flowable_support import (
    ARCHIVED,
    ERRORS,
    FINALLY,
    LISTENERS,
    TASKS,
    LoopAgain,
    Resolved,
    Start,
    StartMode,
    apply_allowances,
    final_state,
    phase,
    resolve_list,
    sequential_nexts,
)

# A guard against a resolution loop that never settles (a bug, never a user error).
_MAX_PASSES = 10_000
# Marks a WaitFor run whose next iteration waits for its interval.
_WAITING = ["\u0000waiting"]


class LogRecord(msgspec.Struct, kw_only=True):
    """A log line the executor itself writes (e.g. an expression error) for a task run."""

    execution_id: str
    task_run_id: str | None
    task_id: str | None
    level: str
    message: str
    timestamp: str


class Delayed(msgspec.Struct, kw_only=True):
    """An event to deliver to this execution at `due` (epoch seconds)."""

    due: float
    event: ExecutionEvent


class NewExecution(msgspec.Struct, kw_only=True):
    """An execution this one creates (a retry as a new execution, a subflow), started at `due`."""

    execution: Execution
    due: float


class Notice(msgspec.Struct, kw_only=True):
    """An event for another execution (a Subflow parent told that its child ended)."""

    execution_id: str
    event: ExecutionEvent


class AdvanceResult(msgspec.Struct, kw_only=True):
    execution: Execution
    jobs: list[WorkerJob]
    delayed: list[Delayed]
    logs: list[LogRecord]
    new_executions: list[NewExecution]
    notices: list[Notice]
    changed: bool
    ended: bool


class AdvanceEnv:
    """What `advance` needs besides the execution: the renderer, per-flow caches, and the
    clock and id source every date and id it makes comes from.

    The daemon passes the wall clock and random ids; a test passes a clock it moves and a
    counter, so retries, timeouts and loops replay exactly, without sleeping.
    """

    def __init__(
        self,
        renderer: Renderer,
        clock: Callable[[], float] = time.time,
        *,
        ids: Callable[[], str] = new_id,
        flow_lookup: Callable[[str, str, int | None], Any] | None = None,
        secret_key: str | None = None,
    ) -> None:
        self.renderer = renderer
        self.clock = clock
        self.ids = ids
        # Subflows resolve the child flow in memory: `advance` stays free of I/O.
        self.flow_lookup = flow_lookup or (lambda namespace, flow_id, revision: None)
        self.secret_key = secret_key
        self._refs: dict[tuple[str, int, str], set[str] | None] = {}
        self._task_states: dict[tuple[str, int, str], bool] = {}

    def reads_task_states(self, flow: Flow, revision: int, task: Task) -> bool:
        """Whether the task's templates read `tasks` (`tasks.x.state`, `tasksWithState()`):
        only then does its worker job carry the states of every task run."""
        key = (f"{flow.namespace}/{flow.id}", revision, task.id)
        found = self._task_states.get(key)
        if found is None:
            text = msgspec.json.encode(task).decode()
            found = "tasks" in text.replace('"tasks":', "")
            if len(self._task_states) > 100_000:
                self._task_states.clear()
            self._task_states[key] = found
        return found

    def output_refs(self, flow: Flow, revision: int, task: Task) -> set[str] | None:
        key = (f"{flow.namespace}/{flow.id}", revision, task.id)
        try:
            return self._refs[key]
        except KeyError:
            refs = referenced_outputs(task, flow.variables)
            if len(self._refs) > 100_000:
                self._refs.clear()
            self._refs[key] = refs
            return refs


class _Pass:
    """The mutable state of one `advance` call; keeps the public function short."""

    def __init__(self, execution: Execution, flow: Flow, env: AdvanceEnv) -> None:
        self.execution = execution
        self.flow = flow
        self.env = env
        self.index = ExecutionIndex(execution)
        self.base = base_variables(execution, flow)
        self.jobs: list[WorkerJob] = []
        self.delayed: list[Delayed] = []
        self.logs: list[LogRecord] = []
        self.new_executions: list[NewExecution] = []
        self.notices: list[Notice] = []
        self.changed = False

    # -- FlowView -------------------------------------------------------------------------
    def children(self, parent: TaskRun | None) -> list[TaskRun]:
        return self.index.children.get(parent.id if parent else None, [])

    def variables(self, run: TaskRun | None) -> dict[str, Any]:
        task = self.flow.find_task(run.task_id) if run is not None else None
        return run_variables(self.base, self.index, run, task)

    def render(self, run: TaskRun | None, value: Any) -> Any:
        return self.env.renderer.render_value(value, self.variables(run))

    def render_typed(self, run: TaskRun | None, value: Any) -> Any:
        return self.env.renderer.render_value_typed(value, self.variables(run))

    # -- helpers ----------------------------------------------------------------------------
    def date(self) -> str:
        """Now, from the env's clock, as Kestra writes instants."""
        return iso_from_epoch(self.env.clock())

    def log(self, run: TaskRun | None, level: str, message: str) -> None:
        self.logs.append(
            LogRecord(
                execution_id=self.execution.id,
                task_run_id=run.id if run else None,
                task_id=run.task_id if run else None,
                level=level,
                message=message,
                timestamp=self.date(),
            )
        )

    # Every state change goes through the transition tables: an illegal one raises.
    def set_state(self, run: TaskRun, state: str, date: str | None = None) -> None:
        if T.move(run.state, state, date or self.date(), T.TASK_RUN):
            self.changed = True

    def set_attempt(self, attempt: Attempt, state: str) -> None:
        if T.move(attempt.state, state, self.date(), T.ATTEMPT):
            self.changed = True

    def new_attempt(self, run: TaskRun, state: str) -> Attempt:
        attempt = Attempt(state=StateInfo.new(state, self.date()))
        run.attempts.append(attempt)
        return attempt

    def set_execution_state(self, state: str) -> None:
        if T.move(self.execution.state, state, self.date(), T.EXECUTION):
            self.changed = True

    def fail(self, run: TaskRun, reason: str) -> None:
        self.log(run, "ERROR", reason)
        if run.state.current == S.CREATED:
            self.set_state(run, S.RUNNING)
        self.set_state(run, S.FAILED)

    def delay(self, seconds: float, event: ExecutionEvent) -> None:
        self.delayed.append(Delayed(due=self.env.clock() + max(seconds, 0.0), event=event))

    # -- what flowables and execution-updating tasks may ask (tasks/flowable_support.py) --
    def adopt(self, run: TaskRun, reported: list[DynamicRun]) -> None:
        """Runs a worker created itself (a WorkingDirectory's children) join the execution."""
        known = {child.id for child in self.children(run)}
        for dynamic in reported:
            if dynamic.id in known:
                continue
            child = TaskRun(
                id=dynamic.id,
                execution_id=self.execution.id,
                namespace=self.execution.namespace,
                flow_id=self.execution.flow_id,
                task_id=dynamic.task_id,
                parent_task_run_id=run.id,
                state=StateInfo(current=dynamic.state, histories=list(dynamic.histories)),
                attempts=[
                    Attempt(
                        state=StateInfo(current=dynamic.state, histories=list(dynamic.histories)),
                        metrics=dynamic.metrics,
                    )
                ],
                outputs=dynamic.outputs,
            )
            self.index.add(child)
        self.changed = True

    def merge_labels(self, pairs: list[tuple[str, str]]) -> None:
        labels = self.execution.labels
        existing = {label.key: i for i, label in enumerate(labels)}
        for key, value in pairs:  # a key given twice keeps its last value (Kestra 1.x)
            if key in existing:
                labels[existing[key]] = Label(key=key, value=value)
            else:
                existing[key] = len(labels)
                labels.append(Label(key=key, value=value))
        self.changed = True

    def execution_variables(self) -> dict[str, Any]:
        return copy.deepcopy(execution_vars(self.execution, self.flow))

    def replace_variables(self, variables: dict[str, Any]) -> None:
        self.execution.variables = variables
        self.execution.k_own_vars = True
        self.base["vars"] = variables
        self.changed = True

    def kill_subflows(self) -> None:
        for other in self.execution.task_run_list:
            child_id = other.outputs.get("executionId") if other.outputs else None
            if child_id:
                self.notices.append(Notice(execution_id=str(child_id), event=Kill()))

    def end_execution(self, run: TaskRun, state: str) -> None:
        """Exit: `run`, every other unfinished run and the execution end in `state` (KILLED
        goes through KILLING, so subflows are killed too). Kestra: ExitTest."""
        if run.attempts:
            self.set_attempt(run.attempts[-1], state)
        self.set_state(run, state)
        if state == S.KILLED:
            self.set_execution_state(S.KILLING)
            _kill(self)
            return
        for other in self.execution.task_run_list:
            if not other.terminated:
                self.set_state(other, state)
        self.set_execution_state(state)


def advance(
    execution: Execution, flow: Flow, events: list[ExecutionEvent], env: AdvanceEnv
) -> AdvanceResult:
    """Apply `events`, then resolve the flow until nothing more can happen right now."""
    p = _Pass(execution, flow, env)
    was_terminated = execution.terminated
    for event in events:
        _apply(p, event)
    if not execution.terminated:
        _resolve(p)
    if execution.terminated and not was_terminated:
        _notify_parent(p)
        # Runs this call asked a worker for, then ended (an Exit, an SLA): no job.
        p.jobs = [j for j in p.jobs if not p.index.by_id[j.task_run_id].terminated]
    return AdvanceResult(
        execution=execution,
        jobs=p.jobs,
        delayed=p.delayed,
        logs=p.logs,
        new_executions=p.new_executions,
        notices=p.notices,
        changed=p.changed,
        ended=execution.terminated and not was_terminated,
    )


# -- events ---------------------------------------------------------------------------------
def _apply(p: _Pass, event: ExecutionEvent) -> None:
    if isinstance(event, TaskResult):
        _apply_result(p, event)
    elif isinstance(event, RetryDue):
        run = p.index.by_id.get(event.task_run_id)
        if run is not None and T.RETRY.due(run) is None:
            p.set_state(run, S.CREATED)
            if p.execution.state.current == S.RETRYING:
                p.set_execution_state(S.RUNNING)
            task = p.flow.find_task(run.task_id)
            if task is not None and task.kind == TaskKind.EXECUTABLE:
                _start_subflow(p, run, task)
            elif task is not None:
                _dispatch(p, run, task)
    elif isinstance(event, Kill):
        if T.KILL.check(p.execution) is None:
            p.set_execution_state(S.KILLING)
    elif isinstance(event, Restart):
        _apply_restart(p, event)
    elif isinstance(event, Resume):
        _apply_resume(p, event)
    elif isinstance(event, PauseRequest):
        # Checked again here: the execution may have ended since the command was checked.
        if T.PAUSE_REQUEST.check(p.execution) is None:
            p.set_execution_state(S.PAUSED)
    elif isinstance(event, SubflowEnded):
        _apply_subflow_ended(p, event)
    elif isinstance(event, SlaDue):
        slas = getattr(p.flow, "sla", None) or []
        if event.index < len(slas) and not p.execution.terminated:
            _violate_sla(p, event.index, slas[event.index], "exceeded its maximum duration")
    elif isinstance(event, ContinueLoop):
        run = p.index.by_id.get(event.task_run_id)
        if run is not None and run.state.current == S.RUNNING:
            _next_iteration(p, run)
    elif isinstance(event, PauseTimeout):
        run = p.index.by_id.get(event.task_run_id)
        if run is not None and T.PAUSE_TIMEOUT.check(run) is None:
            task = p.flow.find_task(run.task_id)
            allow = (task.allow_failure, task.allow_warning) if task else (False, False)
            p.log(run, "ERROR", T.PAUSE_TIMEOUT.message)
            if isinstance(task, Flowable) and task.timeout_state(p, run) == S.RUNNING:
                p.set_state(run, S.RUNNING)  # its children and `errors` run, then it fails
            else:
                p.set_state(run, T.PAUSE_TIMEOUT.end_state(*allow))
            if p.execution.state.current == S.PAUSED:
                p.set_execution_state(S.RUNNING)
            still_paused = any(r.state.current == S.PAUSED for r in p.execution.task_run_list)
            p.execution.k_auto_resume = p.execution.k_auto_resume and still_paused


def _apply_result(p: _Pass, result: TaskResult) -> None:
    run = p.index.by_id.get(result.task_run_id)
    if run is None or run.terminated or result.attempt < len(run.attempts):
        return  # unknown, already ended (a duplicate delivery) or an older attempt
    while len(run.attempts) < result.attempt:
        p.new_attempt(run, S.CREATED)
    for lost in run.attempts[: result.attempt - 1]:  # their worker died: a redelivery
        if lost.state.current not in S.ATTEMPT_ENDED:
            p.set_attempt(lost, S.RESUBMITTED)
    attempt = run.attempts[result.attempt - 1]
    attempt.state = StateInfo(current=result.state, histories=list(result.histories))
    if result.metrics:
        attempt.metrics = [*(attempt.metrics or ()), *result.metrics]
    if run.state.current in (S.CREATED, S.SUBMITTED) and result.histories:
        p.set_state(run, S.RUNNING, result.histories[0].date)
    p.changed = True
    if result.state == S.RUNNING:
        return
    run.outputs = result.outputs or {}
    task = p.flow.find_task(run.task_id)
    state = result.state
    if isinstance(task, Flowable):  # a flowable sent whole to a worker (WorkingDirectory)
        settled = task.apply_result(p, run, result)
        if settled is not None:
            p.set_state(run, settled)
        return
    if (
        state == S.FAILED
        and not result.final
        and task is not None
        and _schedule_retry(p, run, task)
    ):
        return
    if state == S.SUCCESS and len(run.attempts) > 1:
        policy = _retry_policy(p, run, task)
        if policy is not None and policy.warning_on_retry:
            state = S.WARNING
    if task is not None:
        if state == S.FAILED and task.allow_failure:
            state = S.WARNING
        if state == S.WARNING and task.allow_warning:
            state = S.SUCCESS
    p.set_state(run, state, result.histories[-1].date if result.histories else None)


def _retry_policy(p: _Pass, run: TaskRun, task: Task) -> Any:
    """The task's retry, else the closest ancestor flowable's, else the flow's."""
    if task is not None and task.retry is not None:
        return task.retry
    for ancestor in p.index.ancestors(run):
        parent_task = p.flow.find_task(ancestor.task_id)
        if parent_task is not None and parent_task.retry is not None:
            return parent_task.retry
    return p.flow.retry


def _schedule_retry(p: _Pass, run: TaskRun, task: Task) -> bool:
    policy = _retry_policy(p, run, task)
    if policy is None:
        return False
    if policy.behavior == "CREATE_NEW_EXECUTION":
        return _retry_as_new_execution(p, run, policy)
    attempts = len(run.attempts)
    first_start = run.attempts[0].state.start_date or run.state.start_date or p.date()
    last_end = run.attempts[-1].state.end_date or p.date()
    try:
        delay = T.RETRY.check(policy, attempts, first_start, last_end)
    except DurationError as exc:
        p.log(run, "ERROR", f"invalid retry: {exc}")
        return False
    if isinstance(delay, T.Refusal):
        return False
    p.set_state(run, S.RETRYING)
    p.set_execution_state(S.RETRYING)
    p.log(run, "WARN", f"Attempt {attempts} failed; retrying in {delay.total_seconds():g}s")
    p.delay(delay.total_seconds(), RetryDue(task_run_id=run.id))
    return True


def _retry_as_new_execution(p: _Pass, run: TaskRun, policy: Any) -> bool:
    """Kestra's CREATE_NEW_EXECUTION: this execution ends RETRIED, a fresh one starts later."""
    execution = p.execution
    attempts = execution.metadata.attempt_number
    first = execution.metadata.original_created_date or execution.state.start_date or p.date()
    try:
        delay = T.RETRY.check(policy, attempts, first, p.date())
    except DurationError as exc:
        p.log(run, "ERROR", f"invalid retry: {exc}")
        return False
    if isinstance(delay, T.Refusal):
        return False
    p.set_state(run, S.RETRIED)
    for ancestor in p.index.ancestors(run):
        if not ancestor.terminated:
            p.set_state(ancestor, S.RETRIED)
    retry = Execution.new(
        execution_id=p.env.ids(),
        created=p.date(),
        namespace=execution.namespace,
        flow_id=execution.flow_id,
        flow_revision=execution.flow_revision,
        inputs=execution.inputs,
        labels=list(execution.labels),
        trigger=execution.trigger,
    )
    retry.original_id = execution.original_id
    retry.metadata.attempt_number = attempts + 1
    retry.metadata.original_created_date = first
    p.new_executions.append(
        NewExecution(execution=retry, due=p.env.clock() + delay.total_seconds())
    )
    p.log(
        run, "WARN", f"Execution attempt {attempts} failed; a new execution {retry.id} retries it"
    )
    for other in execution.task_run_list:
        if not other.terminated:
            p.set_state(other, S.KILLED)
    p.set_execution_state(S.RETRIED)
    return True


def _apply_resume(p: _Pass, event: Resume) -> None:
    """Resume one paused run (a Pause's own delay) or, from the API, every paused run."""
    if event.task_run_id is None and T.RESUME.check(p.execution) is not None:
        return
    for run in p.execution.task_run_list:
        if event.task_run_id is not None and run.id != event.task_run_id:
            continue
        if T.RESUME.check(p.execution, run) is not None:
            continue
        task = p.flow.find_task(run.task_id)
        state = S.SUCCESS
        if isinstance(task, Flowable):
            resumed = task.resumed_outputs(event.inputs, event.decision, event.comment, p.date())
            if resumed is not None:
                run.outputs = {**(run.outputs or {}), **resumed}
        elif event.inputs:
            run.outputs = {"onResume": event.inputs}
        if isinstance(task, Flowable):
            # Its own delay (a task run id) or a person: the Pause's `behavior` decides.
            try:
                state = task.resume_state(p, run, automatic=event.task_run_id is not None)
            except ExpressionError as exc:
                p.log(run, "ERROR", f"{task.id}: {exc}")
                state = S.FAILED
        if state == S.CANCELLED:
            p.end_execution(run, S.CANCELLED)
            return
        p.set_state(run, S.RUNNING)
        if state != S.RUNNING:
            p.set_state(run, state)
    still_paused = any(r.state.current == S.PAUSED for r in p.execution.task_run_list)
    p.execution.k_auto_resume = p.execution.k_auto_resume and still_paused
    if p.execution.state.current == S.PAUSED:
        p.set_execution_state(S.RUNNING)


# -- resolution -----------------------------------------------------------------------------
def _resolve(p: _Pass) -> None:
    execution = p.execution
    if execution.state.current in (S.CREATED, S.QUEUED):
        p.set_execution_state(S.RUNNING)
        _arm_slas(p)
    _check_assertions(p)
    if execution.terminated:
        return
    for _ in range(_MAX_PASSES):
        before = p.changed
        p.changed = False
        current = execution.state.current
        if current == S.KILLING:
            _kill(p)
        if execution.terminated or current in (S.PAUSED, S.QUEUED):
            p.changed = p.changed or before
            return
        _resolve_flowables(p)
        if not execution.terminated:  # an Exit, an SLA assertion: nothing more starts
            _resolve_top(p)
        progressed = p.changed
        p.changed = p.changed or before
        if not progressed:
            return


def _kill(p: _Pass) -> None:
    """Every unfinished task run ends KILLED; subflow children are killed in turn."""
    for run in p.execution.task_run_list:
        if not run.terminated:
            for child_id in _running_children(p, run):
                p.notices.append(Notice(execution_id=child_id, event=Kill()))
            p.set_state(run, S.KILLED)
    p.set_execution_state(S.KILLED)


def _running_children(p: _Pass, run: TaskRun) -> list[str]:
    """The executions a RUNNING Subflow run (or ForEachItem `_items` run) waits for."""
    if run.state.current != S.RUNNING:
        return []
    task = p.flow.find_task(run.task_id)
    if getattr(task, "iterative", False):
        return list(run.k_values or [])
    child_id = run.outputs.get("executionId") if run.outputs else None
    return [str(child_id)] if child_id else []


def _resolve_top(p: _Pass) -> None:
    flow = p.flow
    tasks = resolve_list(flow.tasks)
    errors = resolve_list(flow.errors, ERRORS)
    finally_ = resolve_list(getattr(flow, "finally_", None), FINALLY)
    current = phase(p, None, tasks, errors, finally_)
    if not current.done:
        for entry in sequential_nexts(current.current or [], current.runs):
            _create(p, None, entry)
        return
    if p.execution.k_end_state is None:
        end_state = final_state(current) or S.SUCCESS
        if not _render_flow_outputs(p):
            end_state = S.FAILED
        p.execution.k_end_state = end_state
        p.base = base_variables(p.execution, p.flow)  # with the end state and flow outputs
        p.changed = True
    if _run_after_execution(p):
        return
    p.set_execution_state(p.execution.k_end_state)


def _run_after_execution(p: _Pass) -> bool:
    """Listeners (deprecated) and `afterExecution` tasks, one after the other, once the
    outcome is known; they never change it. True while some are still to run."""
    after = _after_execution_tasks(p)
    if not after:
        return False
    runs = [r for r in p.children(None) if r.k_branch == LISTENERS]
    if any(not r.terminated for r in runs):
        return True
    if len(runs) < len(after):
        _create(p, None, after[len(runs)])
        return True
    return False


def _after_execution_tasks(p: _Pass) -> list[Resolved]:
    flow = p.flow
    entries: list[Resolved] = []
    for listener in getattr(flow, "listeners", None) or []:
        if _listener_matches(p, listener):
            entries.extend(resolve_list(listener.tasks, LISTENERS))
    entries.extend(resolve_list(getattr(flow, "after_execution", None), LISTENERS))
    return entries


def _listener_matches(p: _Pass, listener: Any) -> bool:
    from kestrad.triggers.execution_conditions import ConditionError, execution_matches

    try:
        return execution_matches(listener.conditions or [], p.execution, p.execution.k_end_state)
    except ConditionError as exc:
        p.log(None, "ERROR", f"listener condition: {exc}")
        return False


def _render_flow_outputs(p: _Pass) -> bool:
    """Render the flow's `outputs` into the execution; False when one fails to render."""
    outputs = getattr(p.flow, "outputs", None)
    if not outputs:
        return True
    from kestrad.model.input_types import InvalidValue, parse_scalar

    variables = p.variables(None)
    rendered: dict[str, Any] = {}
    for output in outputs:
        try:
            value = p.env.renderer.render_value(output.value, variables)
            if not (isinstance(value, list | dict) and output.type in ("ARRAY", "JSON")):
                value = parse_scalar(output.type, value)
            rendered[output.id] = value
        except (ExpressionError, InvalidValue) as exc:
            if output.required is False:  # left out (FlowOutputTest, optional outputs)
                p.log(None, "WARN", f"Optional output `{output.id}` left out: {exc}")
                continue
            p.log(None, "ERROR", f"Failed to render output `{output.id}`: {exc}")
            return False
    if rendered:
        p.execution.outputs = rendered
    p.changed = True
    return True


def _resolve_flowables(p: _Pass) -> None:
    # Iterate over a snapshot: runs created now are resolved in the next pass.
    for run in list(p.execution.task_run_list):
        if run.state.current != S.RUNNING:
            continue
        task = p.flow.find_task(run.task_id)
        if isinstance(task, Flowable):
            _resolve_flowable(p, run, task)
            if p.execution.terminated:  # an Exit among its children: nothing more starts
                return


def _resolve_flowable(p: _Pass, run: TaskRun, task: Flowable) -> None:
    if run.k_values == _WAITING:
        return  # a WaitFor between two iterations
    try:
        tasks, errors, finally_ = task.lists(p, run)
        _interrupt_on_child_failure(p, run, task)
        current = phase(p, run, tasks, errors, finally_)
        if not current.done:
            for entry in task.nexts(p, run, current):
                if p.execution.terminated:
                    return
                _create(p, run, entry)
            return
    except ExpressionError as exc:
        p.fail(run, f"{task.id}: {exc}")
        return
    state = final_state(current, task.allow_failure, task.allow_warning)
    if state is None:
        return
    settled = task.settle(p, run, state)
    if isinstance(settled, LoopAgain):  # a WaitFor going round again after its interval
        run.k_values = list(_WAITING)
        p.changed = True
        p.delay(settled.after.total_seconds(), ContinueLoop(task_run_id=run.id))
        return
    p.set_state(run, settled)


def _interrupt_on_child_failure(p: _Pass, run: TaskRun, task: Flowable) -> None:
    """`onChildFailure: CANCEL|FAIL`: once a child of its tasks failed, every unfinished
    run under it ends in that state (Kestra 1.x's OnChildFailureInterface)."""
    target = task.interrupts_children()
    if target is None:
        return
    children = [r for r in p.children(run) if r.k_branch == TASKS]
    if not any(r.state.current == S.FAILED for r in children):
        return
    roots = {r.id for r in children}
    for run_id in roots | _descendants(p, roots):
        other = p.index.by_id[run_id]
        if not other.terminated and other.k_branch == TASKS:
            p.log(other, "WARN", f"{target.lower()} because a sibling task failed")
            p.set_state(other, target)


def _create(p: _Pass, parent: TaskRun | None, entry: Resolved) -> None:
    """Create the run of one child and start it: dispatch, resolve inline, or skip."""
    task = entry.task
    run = new_task_run(
        p.execution,
        task.id,
        task_run_id=p.env.ids(),
        date=p.date(),
        parent=parent,
        value=entry.value,  # only a loop's children carry one
        branch=entry.branch,
    )
    run.iteration = entry.iteration  # ForEach children: the index of their value
    p.index.add(run)
    p.changed = True
    for name, condition in task.run_conditions():  # runIf, when
        try:
            if not truthy(p.render(run, condition)):
                p.set_state(run, S.SKIPPED)
                return
        except ExpressionError as exc:
            p.fail(run, f"{name}: {exc}")
            return
    if isinstance(task, Flowable):
        _begin(p, run, task)
    elif isinstance(task, ExecutionUpdatingTask):
        _apply_execution_update(p, run, task)
    elif task.kind == TaskKind.EXECUTABLE:
        _start_subflow(p, run, task)
    else:
        _dispatch(p, run, task)


def _begin(p: _Pass, run: TaskRun, task: Flowable) -> None:
    """A flowable's run starts the way the task says: inline, on a worker, or pausing."""
    p.set_state(run, S.RUNNING)
    try:
        start = task.begin(p, run)
    except (ExpressionError, DurationError) as exc:
        # Kestra records the failure as one FAILED attempt (IfTest#ifConditionUndefinedInput).
        p.set_attempt(p.new_attempt(run, S.RUNNING), S.FAILED)
        p.fail(run, f"{task.id}: {exc}")
        return
    if start.mode is StartMode.DISPATCH:
        _dispatch(p, run, task)
    elif start.mode is StartMode.PAUSE:
        _pause(p, run, start)


def _dispatch(p: _Pass, run: TaskRun, task: Task) -> None:
    attempt = len(run.attempts) + 1
    p.new_attempt(run, S.CREATED)
    if _start_timer(p, run, task, attempt):
        return
    variables = run_variables(
        p.base,
        p.index,
        run,
        task,
        outputs=outputs_snapshot(
            p.index, p.env.output_refs(p.flow, p.execution.flow_revision, task)
        ),
    )
    tasks_view = variables.pop("tasks", None)
    if tasks_view is not None and p.env.reads_task_states(p.flow, p.execution.flow_revision, task):
        variables["tasks"] = {key: tasks_view[key] for key in tasks_view}  # a plain copy
    timeout = None
    if task.timeout is not None:
        try:
            timeout = parse_duration(str(p.render(run, task.timeout))).total_seconds()
        except (DurationError, ExpressionError) as exc:
            p.fail(run, f"timeout: {exc}")
            return
    p.jobs.append(
        WorkerJob(
            execution_id=p.execution.id,
            task_run_id=run.id,
            task_id=task.id,
            attempt=attempt,
            namespace=p.execution.namespace,
            flow_id=p.execution.flow_id,
            flow_revision=p.execution.flow_revision,
            variables=variables,
            timeout=timeout,
        )
    )


def _start_timer(p: _Pass, run: TaskRun, task: Task, attempt: int) -> bool:
    """A task that only waits (Sleep): RUNNING now, and its end a delayed result in the
    queue, durable like a retry's due date, so the wait holds no worker slot. A kill or a
    restart in between ends or replaces the attempt; the late result is then ignored."""
    timer = getattr(task, "timer", None)
    if timer is None:
        return False
    try:
        wait = timer(p, run)
    except (ExpressionError, ValueError) as exc:
        p.set_attempt(run.attempts[-1], S.FAILED)
        p.fail(run, str(exc))  # the message names the property, as on a worker
        return True
    if wait is None:
        return False
    seconds = max(wait.total_seconds(), 0.0)
    started = p.date()
    p.set_state(run, S.RUNNING, started)
    p.set_attempt(run.attempts[-1], S.RUNNING)
    p.log(run, "INFO", f"Waiting for {format_duration(wait)}")
    ended = iso_from_epoch(p.env.clock() + seconds)
    histories = [History(state=S.RUNNING, date=started), History(state=S.SUCCESS, date=ended)]
    p.delay(
        seconds,
        TaskResult(task_run_id=run.id, attempt=attempt, state=S.SUCCESS, histories=histories),
    )
    return True


def _apply_execution_update(p: _Pass, run: TaskRun, task: ExecutionUpdatingTask) -> None:
    """Labels, Exit, …: the task applies itself to the execution, within one attempt."""
    p.set_state(run, S.RUNNING)
    attempt = p.new_attempt(run, S.RUNNING)
    try:
        task.apply(p, run)
    except (ExpressionError, ValueError) as exc:
        p.set_attempt(attempt, S.FAILED)
        p.fail(run, str(exc))
        return
    if not run.terminated:
        p.set_attempt(attempt, S.SUCCESS)
        p.set_state(run, S.SUCCESS)


def _pause(p: _Pass, run: TaskRun, start: Start) -> None:
    """A Pause: its run and the execution go PAUSED; its own delay resumes it, its timeout
    fails it (both as delayed events, checked by the rules when they arrive)."""
    refusal = T.PAUSE.check(p.execution)
    if refusal is not None:
        p.fail(run, refusal.message)
        return
    p.set_state(run, S.PAUSED)
    p.set_execution_state(S.PAUSED)
    for entry in start.on_pause:  # `onPause`: runs while the execution is paused
        _create(p, run, entry)
    if start.resume_after is not None:
        p.execution.k_auto_resume = True
        p.delay(start.resume_after.total_seconds(), Resume(task_run_id=run.id))
    if start.fail_after is not None:
        # It ends by itself too: `kestrad run` waits for it instead of reporting a pause.
        p.execution.k_auto_resume = True
        p.delay(start.fail_after.total_seconds(), PauseTimeout(task_run_id=run.id))


# -- WaitFor / LoopUntil ---------------------------------------------------------------------------
def _next_iteration(p: _Pass, run: TaskRun) -> None:
    """Archive the children of the last iteration (they stay in the list) and go again."""
    for child in p.children(run):
        if child.k_branch != ARCHIVED:
            child.k_branch = ARCHIVED
    task = p.flow.find_task(run.task_id)
    if isinstance(task, Flowable):
        task.next_iteration(p, run)
    run.k_values = None
    p.changed = True


# -- Subflow -----------------------------------------------------------------------------------------
def _start_subflow(p: _Pass, run: TaskRun, task: Task) -> None:
    from kestrad.model.inputs import InputsInvalid, resolve_inputs

    if getattr(task, "iterative", False):
        _start_iterations(p, run, task)
        return
    p.set_state(run, S.RUNNING)
    try:
        # Rendered before this attempt exists: `taskrun.attemptsCount` counts the earlier
        # ones, 0 on the first try (Kestra: SubflowRunnerTest#subflowRetryInParallel).
        namespace = str(p.render(run, task.namespace))
        flow_id = str(p.render(run, task.flow_id))
        inputs = p.render_typed(run, task.inputs or {})
        labels = p.render(run, task.labels) if task.labels else {}
    except ExpressionError as exc:
        p.new_attempt(run, S.RUNNING)
        _fail_attempt(p, run, f"{task.id}: {exc}")
        return
    p.new_attempt(run, S.RUNNING)
    child_flow = p.env.flow_lookup(namespace, flow_id, task.revision)
    if child_flow is None or getattr(child_flow, "disabled", False):
        _fail_attempt(p, run, f"Subflow {namespace}/{flow_id} not found or disabled")
        return
    try:
        resolved = resolve_inputs(
            child_flow, inputs, renderer=p.env.renderer, secret_key=p.env.secret_key
        )
    except InputsInvalid as exc:
        reasons = "; ".join(e.message for e in exc.errors)
        _fail_attempt(p, run, f"Subflow {namespace}/{flow_id} inputs: {reasons}")
        return
    child = _new_child(p, run, task, child_flow, resolved, labels)
    run.outputs = {"executionId": child.id}
    if not task.wait:
        p.set_attempt(run.attempts[-1], S.SUCCESS)
        p.set_state(run, S.SUCCESS)


def _new_child(
    p: _Pass, run: TaskRun, task: Task, child_flow: Flow, inputs: dict[str, Any], labels: Any
) -> Execution:
    """A child execution of `child_flow` started by `run` (told when it ends if `wait`)."""
    parent = p.execution
    child = Execution.new(
        execution_id=p.env.ids(),
        created=p.date(),
        namespace=child_flow.namespace,
        flow_id=child_flow.id,
        flow_revision=child_flow.revision,
        inputs=inputs,
        parent_id=parent.id,
        trigger=ExecutionTrigger(
            id=task.id,
            type=task.type,
            variables={
                "executionId": parent.id,
                "namespace": parent.namespace,
                "flowId": parent.flow_id,
                "flowRevision": parent.flow_revision,
            },
        ),
    )
    child.labels = _subflow_labels(parent, child_flow, task, labels)
    if task.wait:
        child.k_parent_task_run_id = run.id
        child.k_parent_outputs = task.outputs
    p.new_executions.append(NewExecution(execution=child, due=p.env.clock()))
    return child


# -- ForEachItem: one child execution per batch ------------------------------------------------
def _start_iterations(p: _Pass, run: TaskRun, task: Task) -> None:
    """ForEachItem's `_items`: one child per batch its `_split` sibling wrote, rendered with
    `taskrun.items` (the batch URI) and `taskrun.iteration`. The child ids, in iteration
    order, are kept in `k_values`; `iterations` counts the children by state."""
    from kestrad.model.inputs import InputsInvalid, resolve_inputs

    p.set_state(run, S.RUNNING)
    p.new_attempt(run, S.RUNNING)
    siblings = p.children(p.index.by_id.get(run.parent_task_run_id or ""))
    split = next((r for r in siblings if r.task_id == task.split_id), None)
    batches = list((split.outputs or {}).get("batches") or []) if split else []
    try:
        namespace = str(p.render(run, task.namespace))
        flow_id = str(p.render(run, task.flow_id))
    except ExpressionError as exc:
        _fail_attempt(p, run, f"{task.id}: {exc}")
        return
    child_flow = p.env.flow_lookup(namespace, flow_id, task.revision)
    if child_flow is None or getattr(child_flow, "disabled", False):
        _fail_attempt(p, run, f"Subflow {namespace}/{flow_id} not found or disabled")
        return
    ids: list[str] = []
    for iteration, uri in enumerate(batches):
        variables = p.variables(run)
        variables["taskrun"] = {**variables["taskrun"], "items": uri, "iteration": iteration}
        try:
            inputs = p.env.renderer.render_value_typed(task.inputs or {}, variables)
            labels = p.env.renderer.render_value(task.labels, variables) if task.labels else {}
            resolved = resolve_inputs(
                child_flow, inputs, renderer=p.env.renderer, secret_key=p.env.secret_key
            )
        except ExpressionError as exc:
            _fail_attempt(p, run, f"{task.id}: {exc}")
            return
        except InputsInvalid as exc:
            reasons = "; ".join(e.message for e in exc.errors)
            _fail_attempt(p, run, f"Subflow {namespace}/{flow_id} inputs: {reasons}")
            return
        ids.append(_new_child(p, run, task, child_flow, resolved, labels).id)
    run.k_values = ids
    if not ids:  # nothing to do: no outputs (Kestra: forEachItemEmptyItems)
        run.outputs = {}
    elif task.wait:
        run.outputs = {"numberOfBatches": len(ids), "iterations": {"CREATED": len(ids)}}
        return
    else:
        counts = {"CREATED": 0, "RUNNING": 0, S.SUCCESS: len(ids)}
        run.outputs = {"numberOfBatches": len(ids), "iterations": counts}
    p.set_attempt(run.attempts[-1], S.SUCCESS)
    p.set_state(run, S.SUCCESS)


def _iteration_ended(p: _Pass, run: TaskRun, task: Task, event: SubflowEnded) -> None:
    """One ForEachItem child ended: count it, keep its outputs; once every child has
    ended, the run ends (FAILED if one failed and `transmitFailed`)."""
    ids = run.k_values or []
    if event.child_id not in ids:
        return
    outputs = dict(run.outputs or {})
    counts = dict(outputs.get("iterations") or {})
    counts["CREATED"] = max(int(counts.get("CREATED", 0)) - 1, 0)
    counts.setdefault("RUNNING", 0)
    counts[event.state] = int(counts.get(event.state, 0)) + 1
    outputs["iterations"] = counts
    if event.outputs:
        per_iteration = dict(outputs.get("iterationOutputs") or {})
        per_iteration[str(ids.index(event.child_id))] = event.outputs
        outputs["iterationOutputs"] = per_iteration
    run.outputs = outputs
    p.changed = True
    if counts["CREATED"] > 0:
        return
    failed = any(counts.get(state, 0) for state in (S.FAILED, S.KILLED))
    state = S.FAILED if failed and task.transmit_failed else S.SUCCESS
    if run.attempts:
        p.set_attempt(run.attempts[-1], state)
    p.set_state(run, apply_allowances(state, task.allow_failure, task.allow_warning))


def _subflow_labels(parent: Execution, child_flow: Flow, task: Task, labels: Any) -> list[Label]:
    merged: dict[str, str] = {}
    if task.inherit_labels:
        merged.update(
            {lb.key: lb.value for lb in parent.labels if not lb.key.startswith("system.")}
        )
    merged.update({k: str(v) for k, v in (getattr(child_flow, "labels", None) or {}).items()})
    if isinstance(labels, Mapping):
        merged.update({str(k): label_text(v) for k, v in labels.items()})
    elif isinstance(labels, list):
        merged.update({str(i["key"]): label_text(i["value"]) for i in labels})
    correlation = parent.label_map().get("system.correlationId", parent.id)
    merged["system.correlationId"] = correlation
    return [Label(key=k, value=v) for k, v in merged.items()]


def _fail_attempt(p: _Pass, run: TaskRun, reason: str) -> None:
    if run.attempts:
        p.set_attempt(run.attempts[-1], S.FAILED)
    task = p.flow.find_task(run.task_id)
    p.log(run, "ERROR", reason)
    state = S.WARNING if task is not None and task.allow_failure else S.FAILED
    p.set_state(run, state)


def _notify_parent(p: _Pass) -> None:
    """When a waited-for child ends, tell its parent (with the outputs it asked for)."""
    child = p.execution
    if child.parent_id is None or child.k_parent_task_run_id is None:
        return
    extra: dict[str, Any] = {}
    error = None
    if child.k_parent_outputs:
        try:
            extra = p.env.renderer.render_value(child.k_parent_outputs, p.variables(None))
        except ExpressionError as exc:
            error = f"Subflow outputs: {exc}"
    outputs = {**(child.outputs or {}), **extra}
    p.notices.append(
        Notice(
            execution_id=child.parent_id,
            event=SubflowEnded(
                task_run_id=child.k_parent_task_run_id,
                child_id=child.id,
                state=child.state.current,
                outputs=outputs,
                error=error,
            ),
        )
    )


def _apply_subflow_ended(p: _Pass, event: SubflowEnded) -> None:
    run = p.index.by_id.get(event.task_run_id)
    if run is None or run.terminated:
        return
    task = p.flow.find_task(run.task_id)
    if task is not None and getattr(task, "iterative", False):
        _iteration_ended(p, run, task, event)
        return
    run.outputs = {
        "executionId": event.child_id,
        "state": event.state,
        "outputs": event.outputs or {},
    }
    if event.error is not None:
        _fail_attempt(p, run, event.error)
        return
    state = event.state
    if state not in (S.SUCCESS,) and not (task is not None and task.transmit_failed):
        state = S.SUCCESS
    if state == S.FAILED and task is not None:
        if run.attempts:
            p.set_attempt(run.attempts[-1], S.FAILED)
        if _schedule_retry(p, run, task):
            return
    if state == S.FAILED and task is not None and task.allow_failure:
        state = S.WARNING
    if state == S.WARNING and task is not None and task.allow_warning:
        state = S.SUCCESS
    if run.attempts:
        p.set_attempt(run.attempts[-1], event.state if event.state in S.TERMINATED else S.SUCCESS)
    p.set_state(run, state)


# -- SLA -----------------------------------------------------------------------------------------
def _arm_slas(p: _Pass) -> None:
    """MAX_DURATION SLAs become one delayed event each, at start."""
    for index, sla in enumerate(getattr(p.flow, "sla", None) or []):
        if sla.type == "MAX_DURATION" and sla.duration:
            try:
                seconds = parse_duration(sla.duration).total_seconds()
            except DurationError as exc:
                p.log(None, "ERROR", f"sla {sla.id}: {exc}")
                continue
            p.delay(seconds, SlaDue(index=index))


def _check_assertions(p: _Pass) -> None:
    """EXECUTION_ASSERTION SLAs are checked on every change, each acting at most once."""
    slas = getattr(p.flow, "sla", None) or []
    for index, sla in enumerate(slas):
        if sla.type != "EXECUTION_ASSERTION" or index in p.execution.k_sla_violated:
            continue
        try:
            holds = truthy(p.render(None, sla.assert_ or "true"))
        except ExpressionError as exc:
            p.log(None, "ERROR", f"sla {sla.id}: {exc}")
            continue
        if not holds:
            _violate_sla(p, index, sla, f"assertion `{sla.assert_}` is false")
            if p.execution.terminated:
                return


def _violate_sla(p: _Pass, index: int, sla: Any, why: str) -> None:
    if index in p.execution.k_sla_violated:
        return
    p.execution.k_sla_violated.append(index)
    p.changed = True
    p.log(None, "WARN", f"SLA {sla.id} violated: {why}")
    if sla.labels:
        p.merge_labels(label_pairs(dict(sla.labels)))
    if sla.behavior == "NONE":
        return
    end = S.FAILED if sla.behavior == "FAIL" else S.CANCELLED
    for run in p.execution.task_run_list:
        if not run.terminated:
            p.set_state(run, S.KILLED)
    p.set_execution_state(end)


# -- restart -------------------------------------------------------------------------------------
def _apply_restart(p: _Pass, event: Restart) -> None:
    """Kestra's restart: failed runs go again (new attempt), error branches are dropped.

    Only an ended (or paused) execution restarts. A runnable that failed is dispatched
    again with a new attempt; a flowable that failed because of a child re-opens; one
    that failed by itself (its condition, its values) is removed so its parent creates
    it again; `errors`, `finally` and listener runs are removed with their children.
    """
    execution = p.execution
    if T.RESTART.check(execution) is not None:
        return
    if (
        event.revision is not None
        and p.env.flow_lookup(execution.namespace, execution.flow_id, event.revision) is not None
    ):
        execution.flow_revision = event.revision
        p.flow = p.env.flow_lookup(execution.namespace, execution.flow_id, event.revision)
    doomed = {r.id for r in execution.task_run_list if r.k_branch in (ERRORS, FINALLY, LISTENERS)}
    failed = [r for r in execution.task_run_list if T.RESTART.reruns(r)]
    for run in failed:
        task = p.flow.find_task(run.task_id)
        if (
            task is None
            or run.id in doomed
            or task.kind == TaskKind.EXECUTION_UPDATING
            or (
                isinstance(task, Flowable) and not any(T.RESTART.reruns(c) for c in p.children(run))
            )
        ):
            doomed.add(run.id)
    doomed |= _descendants(p, doomed)
    execution.task_run_list = [r for r in execution.task_run_list if r.id not in doomed]
    p.index = ExecutionIndex(execution)
    execution.k_end_state = None
    execution.outputs = {}
    execution.metadata.attempt_number += 1
    p.set_execution_state(S.RESTARTED)
    p.set_execution_state(S.RUNNING)
    for run in execution.task_run_list:
        if not T.RESTART.reruns(run):
            continue
        task = p.flow.find_task(run.task_id)
        p.set_state(run, S.RESTARTED)
        if isinstance(task, Flowable):
            p.set_state(run, S.RUNNING)
        elif task.kind == TaskKind.EXECUTABLE:
            _start_subflow(p, run, task)
        else:
            _dispatch(p, run, task)
    p.changed = True


def _descendants(p: _Pass, roots: set[str]) -> set[str]:
    out: set[str] = set()
    stack = list(roots)
    while stack:
        for child in p.index.children.get(stack.pop(), []):
            if child.id not in out:
                out.add(child.id)
                stack.append(child.id)
    return out
