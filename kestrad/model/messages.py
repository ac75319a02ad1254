"""Queue payloads: what moves between the executor and the worker, encoded with msgspec.

The `execution` topic carries events about one execution (keyed by its id); the `worker`
topic carries jobs. Tagged unions keep decoding a single typed call.
"""

from __future__ import annotations

from typing import Any

import msgspec

from kestrad.model.execution import Metric
from kestrad.model.state import History


class Wake(msgspec.Struct, tag="wake", kw_only=True):
    """Look at the execution again (it was just created, or something outside changed it)."""


class DynamicRun(msgspec.Struct, kw_only=True):
    """A task run the worker created itself (a WorkingDirectory's children)."""

    id: str
    task_id: str
    state: str
    histories: list[History]
    outputs: dict[str, Any] = msgspec.field(default_factory=dict)
    metrics: list[Metric] | None = None


class TaskResult(msgspec.Struct, tag="result", kw_only=True):
    """A worker's report on one attempt: RUNNING when it starts, then its end state.

    Attempts before `attempt` that have not ended were lost with their worker: they end
    RESUBMITTED. `final`: the task run ends with this state, whatever its retry policy
    says (a poison job: its workers died too often)."""

    task_run_id: str
    attempt: int
    state: str
    histories: list[History]
    outputs: dict[str, Any] | None = None
    dynamic: list[DynamicRun] | None = None
    final: bool = False
    metrics: list[Metric] | None = None


class RetryDue(msgspec.Struct, tag="retry", kw_only=True):
    """A RETRYING task run's delay has passed: run it again."""

    task_run_id: str


class Resume(msgspec.Struct, tag="resume", kw_only=True):
    """Resume a PAUSED execution (API, `execution.Resume`, or a Pause's `delay`)."""

    task_run_id: str | None = None
    inputs: dict[str, Any] | None = None
    # An Approval's decision (APPROVED / DENIED) and the reviewer's comment.
    decision: str | None = None
    comment: str | None = None


class PauseRequest(msgspec.Struct, tag="pause", kw_only=True):
    """An operator pauses a running execution: its running task runs go on, nothing new
    starts until a Resume (Kestra's `executions/{id}/actions/pause`)."""


class PauseTimeout(msgspec.Struct, tag="pause-timeout", kw_only=True):
    """A Pause's `timeout` has passed: fail it if it is still paused."""

    task_run_id: str


class Kill(msgspec.Struct, tag="kill", kw_only=True):
    """Kill the execution: running tasks are cancelled, the execution ends KILLED."""


class Restart(msgspec.Struct, tag="restart", kw_only=True):
    """Run the failed task runs of an ended (or paused) execution again, same id."""

    revision: int | None = None


class SubflowEnded(msgspec.Struct, tag="subflow-ended", kw_only=True):
    """A child execution started by a Subflow task (with `wait`) has ended."""

    task_run_id: str
    child_id: str
    state: str
    outputs: dict[str, Any] | None = None
    error: str | None = None


class ContinueLoop(msgspec.Struct, tag="continue-loop", kw_only=True):
    """A WaitFor/LoopUntil's interval has passed: run its next iteration."""

    task_run_id: str


class SlaDue(msgspec.Struct, tag="sla-due", kw_only=True):
    """A MAX_DURATION SLA's deadline has passed."""

    index: int


ExecutionEvent = (
    Wake
    | TaskResult
    | RetryDue
    | Resume
    | PauseRequest
    | PauseTimeout
    | Kill
    | SubflowEnded
    | ContinueLoop
    | SlaDue
    | Restart
)


class WorkerJob(msgspec.Struct, kw_only=True):
    """One attempt of one runnable task, with the variables it renders against."""

    execution_id: str
    task_run_id: str
    task_id: str
    attempt: int
    namespace: str
    flow_id: str
    flow_revision: int
    variables: dict[str, Any]
    timeout: float | None = None


_event_encoder = msgspec.json.Encoder()
_event_decoder = msgspec.json.Decoder(ExecutionEvent)
_job_decoder = msgspec.json.Decoder(WorkerJob)


def encode(message: msgspec.Struct) -> bytes:
    return _event_encoder.encode(message)


def decode_event(data: bytes) -> ExecutionEvent:
    return _event_decoder.decode(data)


def decode_job(data: bytes) -> WorkerJob:
    return _job_decoder.decode(data)
