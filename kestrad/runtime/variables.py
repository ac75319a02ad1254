"""The variables an expression sees (Kestra's RunVariables), built as views, never copies.

`outputs` is a Mapping computed per task id on access: copying every task's outputs into
each task's context is what made Kestra's big ForEach loops slow, so nothing here walks
all task runs unless an expression asks for all of them.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec

from kestrad.model.execution import Execution, TaskRun
from kestrad.model.flow import Flow
from kestrad.tasks.base import Task
from kestrad.tasks.context import current_secret_values


class ExecutionIndex:
    """Lookups over one execution's task runs, kept current as the executor adds runs."""

    def __init__(self, execution: Execution) -> None:
        self.execution = execution
        self.by_id: dict[str, TaskRun] = {}
        self.children: dict[str | None, list[TaskRun]] = {}
        self.by_task: dict[str, list[TaskRun]] = {}
        for run in execution.task_run_list:
            self._index(run)

    def _index(self, run: TaskRun) -> None:
        self.by_id[run.id] = run
        self.children.setdefault(run.parent_task_run_id, []).append(run)
        self.by_task.setdefault(run.task_id, []).append(run)

    def add(self, run: TaskRun) -> None:
        self.execution.task_run_list.append(run)
        self._index(run)

    def ancestors(self, run: TaskRun) -> list[TaskRun]:
        """Parents of `run`, closest first."""
        out: list[TaskRun] = []
        current = run
        while current.parent_task_run_id is not None:
            parent = self.by_id.get(current.parent_task_run_id)
            if parent is None:
                break
            out.append(parent)
            current = parent
        return out

    def value_chain(self, run: TaskRun) -> list[str]:
        """Loop values of the ancestors that carry one, outermost first."""
        return [a.value for a in reversed(self.ancestors(run)) if a.value is not None]


def task_outputs(index: ExecutionIndex, task_id: str) -> Any:
    """`outputs.<task_id>`: the outputs, nested under the loop values of the run's lineage."""
    runs = index.by_task.get(task_id)
    if not runs:
        raise KeyError(task_id)
    result: dict[str, Any] = {}
    found = False
    for run in runs:
        chain = index.value_chain(run)
        if run.value is None and not chain:
            result = dict(run.outputs)  # the last run without a value wins
            found = True
            continue
        node = result
        for value in chain:
            node = node.setdefault(value, {})
        if run.value is not None:
            node[run.value] = run.outputs
        else:
            node.update(run.outputs)
        found = True
    if not found:
        raise KeyError(task_id)
    return result


class OutputsView(Mapping[str, Any]):
    """`outputs` as a read-only mapping over task runs that have produced outputs."""

    __slots__ = ("_index",)

    def __init__(self, index: ExecutionIndex) -> None:
        self._index = index

    def __getitem__(self, key: str) -> Any:
        runs = self._index.by_task.get(key)
        if not runs or not any(r.outputs for r in runs):
            raise KeyError(key)
        return task_outputs(self._index, key)

    def __iter__(self) -> Iterator[str]:
        return (k for k, runs in self._index.by_task.items() if any(r.outputs for r in runs))

    def __len__(self) -> int:
        return sum(1 for _ in self)


class TasksView(Mapping[str, Any]):
    """`tasks.<id>.state` (or `tasks.<id>[value].state`): current task-run states."""

    __slots__ = ("_index",)

    def __init__(self, index: ExecutionIndex) -> None:
        self._index = index

    def __getitem__(self, key: str) -> Any:
        runs = self._index.by_task.get(key)
        if not runs:
            raise KeyError(key)
        if len(runs) == 1 and runs[0].value is None:
            return {"state": runs[0].state.current}
        return {r.value: {"state": r.state.current} for r in runs}

    def __iter__(self) -> Iterator[str]:
        return iter(self._index.by_task)

    def __len__(self) -> int:
        return len(self._index.by_task)


@functools.cache
def envs_from_environment() -> dict[str, str]:
    """`envs.*`: variables prefixed `ENV_` (Kestra 1.x's default prefix), prefix stripped,
    lower-cased. `KESTRA_`, the prefix before Kestra 0.23, is still read; `ENV_` wins.

    Read once (scanning the environment on every render cost more than the render); call
    `refresh_environment()` after changing `os.environ`.
    """
    envs: dict[str, str] = {}
    for prefix in ("KESTRA_", "ENV_"):
        for key, value in os.environ.items():
            if key.startswith(prefix) and len(key) > len(prefix):
                envs[key[len(prefix) :].lower()] = value
    return envs


def refresh_environment() -> None:
    """Forget what was read from the environment (envs, secrets to mask)."""

    envs_from_environment.cache_clear()
    current_secret_values.cache_clear()


def taskrun_vars(run: TaskRun) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": run.id,
        "startDate": run.state.start_date,
        "attemptsCount": len(run.attempts),
    }
    if run.parent_task_run_id is not None:
        out["parentId"] = run.parent_task_run_id
    # Always present (null outside loops): `{{ taskrun.value }}` renders empty there.
    out["value"] = run.value
    if run.iteration is not None:
        out["iteration"] = run.iteration
    return out


def base_variables(execution: Execution, flow: Flow) -> dict[str, Any]:
    """The variables of an execution that do not depend on a task run."""
    variables: dict[str, Any] = {
        "flow": {"id": flow.id, "namespace": flow.namespace, "revision": execution.flow_revision},
        "execution": {
            "id": execution.id,
            "startDate": execution.state.start_date,
            "originalId": execution.original_id,
            # afterExecution tasks see the state the execution ends in (Kestra 1.x).
            "state": execution.k_end_state or execution.state.current,
        },
        "inputs": execution.inputs,
        "labels": nest_labels(execution.label_map()),
        "vars": execution_vars(execution, flow),
        "envs": envs_from_environment(),
    }
    if execution.outputs:
        variables["execution"]["outputs"] = execution.outputs
    if execution.trigger is not None:
        variables["trigger"] = execution.trigger.variables
    return variables


def execution_vars(execution: Execution, flow: Flow) -> dict[str, Any]:
    """`vars`: the flow's variables, or the execution's own once SetVariables or
    UnsetVariables changed them (Kestra 1.x keeps them on the execution)."""
    if execution.k_own_vars:
        return execution.variables
    return dict(flow.variables or {})


def nest_labels(labels: dict[str, str]) -> dict[str, Any]:
    """`labels.system.correlationId` works because dotted keys are also nested."""
    out: dict[str, Any] = dict(labels)
    for key, value in labels.items():
        if "." in key:
            node = out
            parts = key.split(".")
            for part in parts[:-1]:
                existing = node.get(part)
                if not isinstance(existing, dict):
                    existing = {}
                    node[part] = existing
                node = existing
            node[parts[-1]] = value
    return out


def run_variables(
    base: dict[str, Any],
    index: ExecutionIndex,
    run: TaskRun | None,
    task: Task | None,
    *,
    outputs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Variables for rendering a property of `task` in `run` (executor side: live views)."""
    variables = dict(base)
    variables["outputs"] = outputs if outputs is not None else OutputsView(index)
    variables["tasks"] = TasksView(index)
    if run is not None:
        variables["taskrun"] = taskrun_vars(run)
        # A parent shows `outputs` only when it has some (Kestra:
        # WorkingDirectoryTest#taskrunNested prints `{"taskrun":{"value":"1"}}`).
        parents = [
            {"taskrun": {"value": a.value}, **({"outputs": a.outputs} if a.outputs else {})}
            for a in index.ancestors(run)
            if a.value is not None
        ]
        variables["parents"] = parents
        if parents:
            variables["parent"] = parents[0]
    if task is not None:
        variables["task"] = {"id": task.id, "type": task.type}
    return variables


_OUTPUT_REF = re.compile(r"""outputs\s*(?:\.\s*([A-Za-z0-9_]+)|\[\s*['"]([^'"]+)['"]\s*\])""")
_ALL_OUTPUTS = re.compile(
    r"""outputs(?!\s*(?:\.\s*[A-Za-z0-9_]|\[\s*['"]))|render|currentEachOutput"""
)


def referenced_outputs(task: Task, flow_variables: Any) -> set[str] | None:
    """Task ids whose outputs the task's templates may read; None means all of them.

    The worker renders with a snapshot of the variables; shipping only the outputs a task
    refers to keeps every worker job small however many task runs the execution has.
    """
    declared = task.reads_outputs() if hasattr(task, "reads_outputs") else set()
    text = msgspec.json.encode(task).decode()
    if "{{" not in text and "{%" not in text:
        return set(declared)
    if "vars" in text and flow_variables:
        text += msgspec.json.encode(flow_variables).decode()
    if _ALL_OUTPUTS.search(text):
        return None
    return {m.group(1) or m.group(2) for m in _OUTPUT_REF.finditer(text)} | declared


def outputs_snapshot(index: ExecutionIndex, ids: set[str] | None) -> dict[str, Any]:
    """A plain-dict copy of the outputs of `ids` (all when None) for a worker job."""
    view = OutputsView(index)
    keys = list(view) if ids is None else [k for k in ids if k in index.by_task]
    out: dict[str, Any] = {}
    for key in keys:
        try:
            out[key] = view[key]
        except KeyError:
            continue
    return out
