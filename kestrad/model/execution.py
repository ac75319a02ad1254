"""Executions and task runs: the documents the executor advances and the store keeps.

Field names follow Kestra's Execution JSON (camelCase through `rename`), so the stored
document and the API shape are the same thing. A few internal fields (prefixed `k_` on the
wire) carry executor bookkeeping that Kestra keeps in side tables; `to_kestra_json` drops
them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import msgspec

from kestrad.model.durations import format_duration
from kestrad.model.ids import new_id
from kestrad.model.state import TERMINATED, StateInfo, now_iso


class Metric(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    """A counter or a timer a task reported (a script's `::{"metrics": [...]}::` line,
    `Kestra.counter`/`Kestra.timer`); a timer's value is in seconds."""

    name: str
    type: str  # "counter" | "timer"
    value: float
    tags: dict[str, str] = msgspec.field(default_factory=dict)
    timestamp: str | None = None


class Attempt(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    """One run of a runnable task on a worker, with the metrics it reported (Kestra's
    `TaskRunAttempt.metrics`)."""

    state: StateInfo
    metrics: list[Metric] | None = None


class TaskRun(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    """One run of one task, identified by (taskId, parentTaskRunId, value)."""

    id: str
    execution_id: str
    namespace: str
    flow_id: str
    task_id: str
    state: StateInfo
    parent_task_run_id: str | None = None
    value: str | None = None
    iteration: int | None = None
    attempts: list[Attempt] = msgspec.field(default_factory=list)
    outputs: dict[str, Any] = msgspec.field(default_factory=dict)
    # Executor bookkeeping: resolved loop values (rendered once), a retry's due date, the
    # ordinal of the child list (0 = tasks, 1 = errors, 2 = finally) a run belongs to.
    k_values: list[str] | None = None
    k_branch: int = 0

    @property
    def current(self) -> str:
        return self.state.current

    @property
    def terminated(self) -> bool:
        return self.state.current in TERMINATED


class Label(msgspec.Struct, kw_only=True):
    key: str
    value: str


def label_text(value: Any) -> str:
    """A label value as Kestra writes it (booleans lower-case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def label_pairs(rendered: Any) -> list[tuple[str, str]]:
    """Labels given as a map, a list of `{key, value}` or a JSON string of either, as
    (key, value) pairs; ValueError for another shape or a `system.` key (those are the
    daemon's)."""
    if isinstance(rendered, str):
        rendered = json.loads(rendered)
    pairs: list[tuple[str, str]]
    if isinstance(rendered, Mapping):
        pairs = [(str(k), label_text(v)) for k, v in rendered.items()]
    elif isinstance(rendered, list):
        pairs = [(str(item["key"]), label_text(item["value"])) for item in rendered]
    else:
        raise ValueError("labels must be a map, a list of {key, value} or a JSON string")
    for key, _ in pairs:
        if key.startswith("system."):
            raise ValueError(f"system label `{key}` cannot be set by a task")
    return pairs


class ExecutionTrigger(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What started an execution: a trigger, a subflow task, …, with its variables."""

    id: str
    type: str
    variables: dict[str, Any] = msgspec.field(default_factory=dict)


class Metadata(msgspec.Struct, kw_only=True, rename="camel"):
    attempt_number: int = 1
    original_created_date: str | None = None


class Execution(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    """An execution of one flow revision, with every task run it created."""

    id: str
    namespace: str
    flow_id: str
    flow_revision: int
    state: StateInfo
    task_run_list: list[TaskRun] = msgspec.field(default_factory=list)
    inputs: dict[str, Any] = msgspec.field(default_factory=dict)
    outputs: dict[str, Any] = msgspec.field(default_factory=dict)
    labels: list[Label] = msgspec.field(default_factory=list)
    variables: dict[str, Any] = msgspec.field(default_factory=dict)
    parent_id: str | None = None
    original_id: str | None = None
    trigger: ExecutionTrigger | None = None
    deleted: bool = False
    metadata: Metadata = msgspec.field(default_factory=Metadata)
    schedule_date: str | None = None
    # Set while a Pause with a `delay` will resume the execution by itself.
    k_auto_resume: bool = False
    # A Subflow child: the parent's task run to notify at the end (when it waits), and
    # the task's deprecated `outputs` map, rendered against this execution when it ends.
    k_parent_task_run_id: str | None = None
    k_parent_outputs: dict[str, Any] | None = None
    # The state the execution ends in once its listeners / afterExecution tasks are done.
    k_end_state: str | None = None
    # Indexes of the flow's SLAs already violated (each acts once).
    k_sla_violated: list[int] = msgspec.field(default_factory=list)
    # True once SetVariables/UnsetVariables ran: `variables` then holds the whole `vars`
    # (the flow's variables included), else `vars` are the flow's own.
    k_own_vars: bool = False

    @classmethod
    def new(
        cls,
        *,
        namespace: str,
        flow_id: str,
        flow_revision: int,
        inputs: dict[str, Any] | None = None,
        labels: list[Label] | None = None,
        trigger: ExecutionTrigger | None = None,
        execution_id: str | None = None,
        parent_id: str | None = None,
        created: str | None = None,
    ) -> Execution:
        """A CREATED execution; `execution_id` and `created` default to a fresh id and now
        (the executor passes its own, so `advance` stays deterministic)."""
        created = created or now_iso()
        eid = execution_id or new_id()
        return cls(
            id=eid,
            namespace=namespace,
            flow_id=flow_id,
            flow_revision=flow_revision,
            state=StateInfo.new(date=created),
            inputs=inputs or {},
            labels=labels or [],
            trigger=trigger,
            parent_id=parent_id,
            original_id=eid,
            metadata=Metadata(original_created_date=created),
        )

    @property
    def current(self) -> str:
        return self.state.current

    @property
    def terminated(self) -> bool:
        return self.state.current in TERMINATED

    def label_map(self) -> dict[str, str]:
        return {label.key: label.value for label in self.labels}


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Execution)


def encode_execution(execution: Execution) -> bytes:
    return _encoder.encode(execution)


def decode_execution(data: bytes | str) -> Execution:
    return _decoder.decode(data)


def _state_json(state: StateInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "current": state.current,
        "histories": [{"state": h.state, "date": h.date} for h in state.histories],
        "duration": format_duration_seconds(state.duration_seconds()),
        "startDate": state.start_date,
    }
    if state.end_date is not None:
        out["endDate"] = state.end_date
    return out


def format_duration_seconds(seconds: float) -> str:
    from datetime import timedelta

    return format_duration(timedelta(seconds=seconds))


def task_run_to_json(task_run: TaskRun) -> dict[str, Any]:
    """One task run in Kestra's JSON shape."""
    return {
        "id": task_run.id,
        "executionId": task_run.execution_id,
        "namespace": task_run.namespace,
        "flowId": task_run.flow_id,
        "taskId": task_run.task_id,
        "parentTaskRunId": task_run.parent_task_run_id,
        "value": task_run.value,
        "iteration": task_run.iteration,
        "attempts": [{"state": _state_json(a.state)} for a in task_run.attempts] or None,
        "outputs": task_run.outputs,
        "state": _state_json(task_run.state),
    }


def to_kestra_json(execution: Execution) -> dict[str, Any]:
    """The execution as Kestra's Execution JSON (what `--json` and the API print)."""
    return {
        "id": execution.id,
        "namespace": execution.namespace,
        "flowId": execution.flow_id,
        "flowRevision": execution.flow_revision,
        "state": _state_json(execution.state),
        "inputs": execution.inputs,
        "outputs": execution.outputs,
        "labels": [{"key": label.key, "value": label.value} for label in execution.labels],
        "variables": execution.variables or None,
        "parentId": execution.parent_id,
        "originalId": execution.original_id,
        "trigger": msgspec.to_builtins(execution.trigger) if execution.trigger else None,
        "deleted": execution.deleted,
        "metadata": msgspec.to_builtins(execution.metadata),
        "scheduleDate": execution.schedule_date,
        "taskRunList": [task_run_to_json(tr) for tr in execution.task_run_list],
    }


def new_task_run(
    execution: Execution,
    task_id: str,
    *,
    parent: TaskRun | None,
    value: str | None,
    date: str,
    branch: int = 0,
    task_run_id: str | None = None,
) -> TaskRun:
    """A CREATED task run of `execution`, created at `date` (the executor also passes the
    id, from its own source, so `advance` stays deterministic)."""
    return TaskRun(
        id=task_run_id or new_id(),
        execution_id=execution.id,
        namespace=execution.namespace,
        flow_id=execution.flow_id,
        task_id=task_id,
        parent_task_run_id=parent.id if parent else None,
        value=value,
        state=StateInfo.new(date=date),
        k_branch=branch,
    )
