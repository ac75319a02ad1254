"""`io.kestra.plugin.core.flow.*`: the flowable tasks the executor resolves inline."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, ClassVar

import anyio
import msgspec

from kestrad.expr.engine import ExpressionError, truthy
from kestrad.model import state as S
from kestrad.model.durations import format_duration, parse_duration
from kestrad.model.messages import TaskResult
from kestrad.model.state import parse_iso
from kestrad.tasks import props
from kestrad.tasks.base import Flowable, RunnableTask, Task, TaskKind, TaskList
from kestrad.tasks.context import RunContext
from kestrad.tasks.flowable_support import (
    ERRORS,
    FINALLY,
    TASKS,
    TIMED_OUT,
    WARN_AFTER,
    LoopAgain,
    Phase,
    Resolved,
    Start,
    StartMode,
    apply_allowances,
    parallel_nexts,
    resolve_list,
    sequential_nexts,
)
from kestrad.tasks.props import Duration, Int, LabelSet, Map, TextList, ValueList
from kestrad.tasks.registry import register

_LEGACY = "io.kestra.core.tasks.flows."


@register("io.kestra.plugin.core.flow.Sequential", _LEGACY + "Sequential")
class Sequential(Flowable, kw_only=True):
    """Children one after the other."""

    tasks: TaskList
    child_fields: ClassVar[tuple[str, ...]] = ("tasks", "errors", "finally_")


@register("io.kestra.plugin.core.flow.AllowFailure", _LEGACY + "AllowFailure")
class AllowFailure(Sequential, kw_only=True):
    """Deprecated: a Sequential whose failure ends as WARNING."""

    allow_failure: bool = True


@register("io.kestra.plugin.core.flow.Parallel", _LEGACY + "Parallel")
class Parallel(Flowable, kw_only=True):
    """Every child at once, at most `concurrent` running (0 = no limit)."""

    tasks: TaskList
    concurrent: Int = 0
    on_child_failure: str = "CONTINUE"
    child_fields: ClassVar[tuple[str, ...]] = ("tasks", "errors", "finally_")

    def nexts(self, fx: Any, run: Any, current: Phase) -> list[Resolved]:
        if current.current and current.current[0].branch == TASKS:
            limit = rendered_int(fx, run, self.concurrent, "concurrent")
            return parallel_nexts(current.current, current.runs, limit)
        return sequential_nexts(current.current or [], current.runs)

    def interrupts_children(self) -> str | None:
        return child_failure_state(self.on_child_failure)


_CHILD_FAILURE = {"CONTINUE": None, "CANCEL": S.CANCELLED, "FAIL": S.FAILED}


def rendered_int(fx: Any, run: Any, raw: Any, name: str) -> int:
    """An Int property of a flowable (`concurrent: "{{ inputs.n }}"`), rendered by the
    executor; a value that is no integer fails the run, naming the property."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    return props.integer(fx.render(run, raw), name)


def child_failure_state(policy: str | None) -> str | None:
    """`onChildFailure`: the state still-running children take once one child failed
    (CANCEL → CANCELLED, FAIL → FAILED), None to let them run (CONTINUE, the default)."""
    return _CHILD_FAILURE.get(str(policy or "CONTINUE").upper())


@register("io.kestra.plugin.core.flow.If", _LEGACY + "If")
class If(Flowable, kw_only=True):
    """`then` when `condition` renders truthy, else `else`."""

    condition: str
    then: TaskList
    else_: TaskList | None = msgspec.field(default=None, name="else")
    child_fields: ClassVar[tuple[str, ...]] = ("then", "else_", "errors", "finally_")

    def start(self, fx: Any, run: Any) -> None:
        run.outputs = {"evaluationResult": truthy(fx.render(run, self.condition))}

    def lists(self, fx: Any, run: Any) -> tuple[list[Any], list[Any], list[Any]]:
        branch = self.then if run.outputs.get("evaluationResult") else self.else_
        return (
            resolve_list(branch),
            resolve_list(self.errors, ERRORS),
            resolve_list(self.finally_, FINALLY),
        )


@register("io.kestra.plugin.core.flow.Switch", _LEGACY + "Switch")
class Switch(Flowable, kw_only=True):
    """The case whose key equals the rendered `value`, else `defaults`."""

    value: str
    cases: dict[str, TaskList] | None = None
    defaults: TaskList | None = None
    child_fields: ClassVar[tuple[str, ...]] = ("defaults", "errors", "finally_")
    child_maps: ClassVar[tuple[str, ...]] = ("cases",)

    def start(self, fx: Any, run: Any) -> None:
        rendered = fx.render(run, self.value)
        key = rendered if isinstance(rendered, str) else str(rendered)
        matched = self.cases is not None and key in self.cases
        # `defaults: null` loads as an empty list: no defaults either (Kestra:
        # SwitchTest#switchImpossible fails the execution).
        if not matched and not self.defaults:
            raise ExpressionError(
                str(self.value), f"no case matches `{key}` and the Switch has no defaults"
            )
        run.outputs = {"value": key, "defaults": not matched}

    def lists(self, fx: Any, run: Any) -> tuple[list[Any], list[Any], list[Any]]:
        key = run.outputs.get("value")
        branch = self.defaults if run.outputs.get("defaults") else (self.cases or {}).get(key)
        return (
            resolve_list(branch),
            resolve_list(self.errors, ERRORS),
            resolve_list(self.finally_, FINALLY),
        )


def _java_text(value: Any) -> str:
    """A value as Java's `toString` writes it (`[1, null, {key=v}]`), for Kestra's messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_java_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_java_text(v)}" for k, v in value.items()) + "}"
    return str(value)


def loop_values(fx: Any, run: Any, raw: Any) -> list[str]:
    """Render a loop's values (a JSON-array string or a YAML list) into distinct strings."""
    rendered = fx.render_typed(run, raw) if isinstance(raw, str) else raw
    if isinstance(rendered, str):
        try:
            rendered = json.loads(rendered)
        except ValueError as exc:
            raise ExpressionError(str(raw), f"values must be a JSON array: {exc}") from exc
    if not isinstance(rendered, list):
        raise ExpressionError(str(raw), f"values must be a list, got {type(rendered).__name__}")
    nulls = sum(1 for item in rendered if item is None)
    if nulls:  # Kestra's words, with Java's rendering of the list (EachSequentialTest#eachNull)
        raise ExpressionError(
            str(raw), f"Found '{nulls}' null values on Each, with values={_java_text(rendered)}"
        )
    out: list[str] = []
    seen: set[str] = set()
    for item in rendered:
        if isinstance(item, str):
            text = fx.render(run, item)
        elif isinstance(item, dict | list):
            text = json.dumps(fx.render(run, item), separators=(",", ":"), ensure_ascii=False)
        elif isinstance(item, bool):
            text = "true" if item else "false"
        else:
            text = str(item)
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


class _Loop(Flowable, kw_only=True):
    """A flowable running its `tasks` once per value; children carry the value."""

    tasks: TaskList
    child_fields: ClassVar[tuple[str, ...]] = ("tasks", "errors", "finally_")

    def raw_values(self) -> Any:
        raise NotImplementedError

    def start(self, fx: Any, run: Any) -> None:
        run.k_values = loop_values(fx, run, self.raw_values())

    def lists(self, fx: Any, run: Any) -> tuple[list[Any], list[Any], list[Any]]:
        tasks = [t for t in self.tasks if not t.disabled]
        flattened = [
            Resolved(t, v, TASKS, i) for i, v in enumerate(run.k_values or ()) for t in tasks
        ]
        return (
            flattened,
            resolve_list(self.errors, ERRORS),
            resolve_list(self.finally_, FINALLY),
        )


@register("io.kestra.plugin.core.flow.ForEach")
class ForEach(_Loop, kw_only=True):
    """`tasks` for each distinct value; `concurrencyLimit` values at once (0 = all, 1 = one)."""

    values: ValueList
    concurrency_limit: Int = 1
    on_child_failure: str = "CONTINUE"
    child_failure_policy: str | None = None  # the same, under the name the issue tracker uses

    def raw_values(self) -> Any:
        return self.values

    def nexts(self, fx: Any, run: Any, current: Phase) -> list[Resolved]:
        limit = rendered_int(fx, run, self.concurrency_limit, "concurrencyLimit")
        if limit == 1 or not current.current or current.current[0].branch != TASKS:
            return sequential_nexts(current.current or [], current.runs)
        return group_nexts(current.current, current.runs, limit)

    def interrupts_children(self) -> str | None:
        return child_failure_state(self.child_failure_policy or self.on_child_failure)


def group_nexts(current: list[Resolved], runs: list[Any], limit: int) -> list[Resolved]:
    """Values run concurrently (at most `limit` groups active), each group's tasks in order."""
    by_value: dict[str | None, list[Any]] = {}
    for r in runs:
        by_value.setdefault(r.value, []).append(r)
    groups: dict[str | None, list[Resolved]] = {}
    for entry in current:
        groups.setdefault(entry.value, []).append(entry)
    active = sum(
        1
        for value, rs in by_value.items()
        if len(rs) < len(groups.get(value, ())) or any(not r.terminated for r in rs)
    )
    out: list[Resolved] = []
    for value, entries in groups.items():
        group_runs = by_value.get(value, [])
        if not group_runs:
            if limit > 0 and active >= limit:
                continue
            active += 1
            out.append(entries[0])
        elif all(r.terminated for r in group_runs) and len(group_runs) < len(entries):
            out.append(entries[len(group_runs)])
    return out


@register("io.kestra.plugin.core.flow.EachSequential", _LEGACY + "EachSequential")
class EachSequential(_Loop, kw_only=True):
    """Deprecated: ForEach with one value at a time."""

    value: ValueList

    def raw_values(self) -> Any:
        return self.value


@register("io.kestra.plugin.core.flow.EachParallel", _LEGACY + "EachParallel")
class EachParallel(_Loop, kw_only=True):
    """Deprecated: every (value, task) child at once, at most `concurrent` running."""

    value: ValueList
    concurrent: Int = 0

    def raw_values(self) -> Any:
        return self.value

    def nexts(self, fx: Any, run: Any, current: Phase) -> list[Resolved]:
        if current.current and current.current[0].branch == TASKS:
            limit = rendered_int(fx, run, self.concurrent, "concurrent")
            return parallel_nexts(current.current, current.runs, limit)
        return sequential_nexts(current.current or [], current.runs)


class DagTask(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """One node of a Dag: a task and the ids it waits for."""

    task: Any  # built by the loader into a Task (msgspec cannot convert a built Struct)
    depends_on: list[str] | None = None


@register("io.kestra.plugin.core.flow.Dag", _LEGACY + "Dag")
class Dag(Flowable, kw_only=True):
    """Tasks start once every task they depend on has ended."""

    tasks: list[DagTask]
    concurrent: Int = 0
    on_child_failure: str = "CONTINUE"
    child_fields: ClassVar[tuple[str, ...]] = ("errors", "finally_")
    dag_fields: ClassVar[tuple[str, ...]] = ("tasks",)

    def lists(self, fx: Any, run: Any) -> tuple[list[Any], list[Any], list[Any]]:
        return (
            resolve_list([node.task for node in self.tasks]),
            resolve_list(self.errors, ERRORS),
            resolve_list(self.finally_, FINALLY),
        )

    def nexts(self, fx: Any, run: Any, current: Phase) -> list[Resolved]:
        if not current.current or current.current[0].branch != TASKS:
            return sequential_nexts(current.current or [], current.runs)
        ended = {r.task_id for r in current.runs if r.terminated}
        # A disabled task never runs: what depends on it must not wait for it.
        ended |= {node.task.id for node in self.tasks if node.task.disabled}
        deps = {node.task.id: node.depends_on or [] for node in self.tasks}
        ready = [c for c in current.current if all(d in ended for d in deps.get(c.task.id, ()))]
        return parallel_nexts(
            ready, current.runs, rendered_int(fx, run, self.concurrent, "concurrent")
        )

    def interrupts_children(self) -> str | None:
        return child_failure_state(self.on_child_failure)


@register("io.kestra.plugin.core.flow.Sleep")
class Sleep(RunnableTask, kw_only=True):
    """Waits for `duration`. The executor makes the wait a durable timer (`timer`), so a
    sleeping run holds no worker slot and ends on time after a restart; `run` is the
    worker's path, kept for a Sleep with a `timeout` or a `runIf`."""

    duration: Duration

    def timer(self, fx: Any, run: Any) -> timedelta | None:
        if self.timeout is not None or self.run_conditions():
            return None
        value = self.duration
        rendered = fx.render_typed(run, value) if isinstance(value, str) else fx.render(run, value)
        return props.convert(props.Kind.DURATION, rendered, "duration")

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:

        delay = ctx.duration(self.duration, "duration")
        ctx.logger.log("INFO", f"Waiting for {format_duration(delay)}")
        await anyio.sleep(delay.total_seconds())
        return None


_BEHAVIORS = {"RESUME", "WARN", "FAIL", "CANCEL"}


@register("io.kestra.plugin.core.flow.Pause", _LEGACY + "Pause")
class Pause(Flowable, kw_only=True):
    """Pauses the execution until resumed, or for `pauseDuration` (`delay`, deprecated),
    after which `behavior` decides: RESUME, WARN (the run ends WARNING), FAIL, CANCEL (the
    execution). A person's resume always succeeds. `timeout` fails it; `onPause` runs a
    task as it pauses. Kestra: PauseTest (runDurationWithBehavior, shouldExecuteOnPauseTask,
    runTimeoutAllowFailure, shouldExecuteErrorsFinallyAndAfterExecution)."""

    delay: Duration | None = None
    pause_duration: Duration | None = None
    behavior: str = "RESUME"
    timeout: Duration | None = None
    on_resume: list[dict[str, Any]] | None = None
    # One task; typed as a list too because the loader wraps it in one.
    on_pause: TaskList | dict[str, Any] | None = None
    tasks: TaskList | None = None
    child_fields: ClassVar[tuple[str, ...]] = ("on_pause", "tasks", "errors", "finally_")
    # `onPause` is one task, not a list (the loader wraps it).
    single_child_fields: ClassVar[tuple[str, ...]] = ("on_pause",)
    kind: ClassVar[TaskKind] = TaskKind.FLOWABLE

    def begin(self, fx: Any, run: Any) -> Start:
        duration = self.pause_duration if self.pause_duration is not None else self.delay
        return Start(
            StartMode.PAUSE,
            resume_after=_duration(fx, run, duration),
            fail_after=_duration(fx, run, self.timeout),
            on_pause=tuple(resolve_list(self.on_pause)),
        )

    def lists(self, fx: Any, run: Any) -> tuple[list[Any], list[Any], list[Any]]:
        # The onPause run counts first among the children: the Pause ends after it.
        return (
            resolve_list(self.on_pause) + resolve_list(self.tasks),
            resolve_list(self.errors, ERRORS),
            resolve_list(self.finally_, FINALLY),
        )

    def resumes_children(self) -> bool:
        return bool(self.tasks or self.on_pause)

    def resume_state(self, fx: Any, run: Any, automatic: bool) -> str:
        behavior = "RESUME"
        if automatic:
            behavior = str(fx.render(run, self.behavior)).upper()
            if behavior not in _BEHAVIORS:
                fx.log(run, "ERROR", f"unknown Pause behavior `{behavior}`")
                behavior = "FAIL"
        if behavior == "FAIL":
            return S.FAILED
        if behavior == "CANCEL":
            return S.CANCELLED
        goes_on = self.resumes_children()
        if behavior == "WARN":
            if not goes_on:
                return S.WARNING
            run.k_values = list(WARN_AFTER)
        return S.RUNNING if goes_on else S.SUCCESS

    def timeout_state(self, fx: Any, run: Any) -> str:
        # Kestra: a timed-out Pause fails at once (PauseTest#timeout), unless it has
        # `errors`/`finally` to run, or its children still run because it may fail
        # (#timeoutAllowFailure); then it ends FAILED (or WARNING) after them.
        goes_on = self.errors or self.finally_ or (self.allow_failure and self.tasks)
        if not goes_on:
            return S.FAILED
        run.k_values = list(TIMED_OUT)
        return S.RUNNING

    def settle(self, fx: Any, run: Any, state: str) -> str:
        if run.k_values == TIMED_OUT:
            return apply_allowances(S.FAILED, self.allow_failure, self.allow_warning)
        if run.k_values == WARN_AFTER and state == S.SUCCESS:
            return S.WARNING
        return state


def _duration(fx: Any, run: Any, raw: Any) -> timedelta | None:
    """A duration property rendered then parsed; None when absent."""
    if raw is None:
        return None
    rendered = fx.render(run, raw)
    return parse_duration(rendered if isinstance(rendered, str) else str(rendered))


class CheckFrequency(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """How often and how long a WaitFor/LoopUntil loops."""

    max_iterations: int | None = 100
    max_duration: str | None = "PT1H"
    interval: str = "PT1S"


@register("io.kestra.plugin.core.flow.WaitFor", "io.kestra.plugin.core.flow.LoopUntil")
class WaitFor(Flowable, kw_only=True):
    """Runs `tasks` again and again (every `interval`) until `condition` renders truthy."""

    tasks: TaskList
    condition: str
    check_frequency: CheckFrequency = msgspec.field(default_factory=CheckFrequency)
    fail_on_max_reached: bool = False
    child_fields: ClassVar[tuple[str, ...]] = ("tasks", "errors", "finally_")

    def start(self, fx: Any, run: Any) -> None:
        run.outputs = {"iterationCount": 1}

    def settle(self, fx: Any, run: Any, state: str) -> str | LoopAgain:
        """After an iteration that went well: stop once `condition` holds or a limit is
        reached (FAILED with `failOnMaxReached`), else go again after `interval`."""
        if state not in (S.SUCCESS, S.WARNING):
            return state
        try:
            done = truthy(fx.render(run, self.condition))
        except ExpressionError as exc:
            fx.log(run, "ERROR", f"condition: {exc}")
            return S.FAILED
        if done:
            return state
        frequency = self.check_frequency
        iteration = int(run.outputs.get("iterationCount", 1))
        now = fx.date()
        elapsed = parse_iso(now) - parse_iso(run.state.start_date or now)
        if (frequency.max_iterations is not None and iteration >= frequency.max_iterations) or (
            frequency.max_duration is not None and elapsed >= parse_duration(frequency.max_duration)
        ):
            if self.fail_on_max_reached:
                fx.log(run, "ERROR", f"condition still false after {iteration} iterations")
                # Kestra counts the iteration it refuses (LoopUntilCaseTest#waitforMaxIterations:
                # maxIterations 3 ends with iterationCount 4).
                run.outputs = {**run.outputs, "iterationCount": iteration + 1}
                return S.FAILED
            return state
        return LoopAgain(parse_duration(frequency.interval))

    def next_iteration(self, fx: Any, run: Any) -> None:
        run.outputs = {
            **run.outputs,
            "iterationCount": int(run.outputs.get("iterationCount", 1)) + 1,
        }


@register(
    "io.kestra.plugin.core.flow.Subflow",
    _LEGACY + "Subflow",
    _LEGACY + "Flow",
    "io.kestra.plugin.core.flow.Flow",
)
class Subflow(Task, kw_only=True):
    """Starts an execution of another flow and (with `wait`) ends with it."""

    namespace: str
    flow_id: str
    revision: int | None = None
    inputs: dict[str, Any] | None = None
    labels: LabelSet | None = None
    wait: bool = True
    transmit_failed: bool = True
    inherit_labels: bool = False
    schedule_date: str | None = None
    outputs: dict[str, Any] | None = None

    kind: ClassVar[TaskKind] = TaskKind.EXECUTABLE


@register(
    "io.kestra.plugin.core.flow.WorkingDirectory",
    _LEGACY + "WorkingDirectory",
    _LEGACY + "Worker",
)
class WorkingDirectory(Flowable, kw_only=True):
    """Runnable children run on one worker, one after the other, in one temporary folder.

    The executor sends the whole task as one job; the worker reports each child as a task
    run of its own. Failures go to `errors` like in a Sequential.
    """

    tasks: TaskList
    input_files: Map | None = None
    output_files: TextList | None = None
    namespace_files: dict[str, Any] | None = None
    cache: dict[str, Any] | None = None
    child_fields: ClassVar[tuple[str, ...]] = ("tasks", "errors", "finally_")

    def begin(self, fx: Any, run: Any) -> Start:
        return Start(StartMode.DISPATCH)

    def nexts(self, fx: Any, run: Any, current: Phase) -> list[Resolved]:
        if current.current and current.current[0].branch == TASKS:
            return []  # the worker creates these runs
        return sequential_nexts(current.current or [], current.runs)

    def apply_result(self, fx: Any, run: Any, result: TaskResult) -> str | None:
        """The children the worker ran become child runs; the run then resolves like a
        Sequential (its `errors` included), unless it failed outside of any child (its
        input files, a child's `runIf` that does not render)."""
        fx.adopt(run, result.dynamic or [])
        failed_child = any(d.state in (S.FAILED, S.KILLED) for d in result.dynamic or [])
        if result.state not in (S.SUCCESS, S.WARNING) and not failed_child:
            return result.state if result.state in S.TERMINATED else S.FAILED
        return None
