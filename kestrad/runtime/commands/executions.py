"""Commands on one execution: kill, pause, resume (with `onResume` inputs), restart (optionally on
another flow revision) and replay (from the start or from one of its task runs).

Each loads the execution, asks the transition rule, then publishes the event (or, for a
replay, stores the new execution) in one call to the store. The check is advisory — the
execution may change between the check and the executor reading the event — so `advance`
asks the same rule again when the event arrives and ignores a command that no longer
applies. The HTTP API, the CLI and `EngineServices.resume_execution` all come here; they
differ only in how they show a refusal (a status and JSON, `error:` and an exit code, a
failed task).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kestrad.model.execution import Execution
from kestrad.model.messages import ExecutionEvent, Kill, PauseRequest, Restart, Resume, encode
from kestrad.runtime import transitions as T
from kestrad.runtime.replay import replay_execution
from kestrad.store.base import Outgoing, Store


class ExecutionNotFound(LookupError):
    """No execution with that id."""

    def __init__(self, execution_id: str) -> None:
        super().__init__(f"execution {execution_id} not found")
        self.execution_id = execution_id


class CommandRefused(Exception):
    """A transition rule said no: the rule's message, and the HTTP status to answer with."""

    def __init__(self, refusal: T.Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal
        self.message = refusal.message
        self.status = refusal.status


async def kill(store: Store, execution_id: str) -> Execution:
    """Kill an execution that has not ended (its running subflows too)."""
    execution = await _load(store, execution_id)
    _check(T.KILL.check(execution))
    await _publish(store, execution, Kill())
    return execution


async def resume(
    store: Store,
    execution_id: str,
    inputs: Mapping[str, Any] | None = None,
    *,
    flow: tuple[str, str] | None = None,
    decision: str | None = None,
    comment: str | None = None,
) -> Execution:
    """Resume a PAUSED execution; `inputs` become its paused runs' `onResume` outputs.
    `decision` (APPROVED or DENIED) and `comment` answer an Approval task.

    With `flow` (namespace, id), an execution of another flow is refused: the
    `execution.Resume` task may only resume its own flow's executions unless told otherwise.
    """
    execution = await _load(store, execution_id)
    if flow is not None and (execution.namespace, execution.flow_id) != flow:
        _check(
            T.Refusal(
                T.RESUME.name,
                f"execution {execution_id} belongs to {execution.namespace}/"
                f"{execution.flow_id}, not {flow[0]}/{flow[1]}",
            )
        )
    _check(T.RESUME.check(execution))
    event = Resume(inputs=dict(inputs) if inputs else None, decision=decision, comment=comment)
    await _publish(store, execution, event)
    return execution


async def pause(store: Store, execution_id: str) -> Execution:
    """Pause a running execution: what runs ends, nothing new starts until a resume."""
    execution = await _load(store, execution_id)
    _check(T.PAUSE_REQUEST.check(execution))
    await _publish(store, execution, PauseRequest())
    return execution


async def restart(store: Store, execution_id: str, revision: int | None = None) -> Execution:
    """Run the failed (killed, cancelled, paused) task runs of an ended or paused execution
    again, same execution id; with `revision`, on that revision of its flow."""
    execution = await _load(store, execution_id)
    _check(T.RESTART.check(execution))
    await _publish(store, execution, Restart(revision=revision))
    return execution


async def replay(
    store: Store,
    execution_id: str,
    task_run_id: str | None = None,
    *,
    inputs: dict[str, Any] | None = None,
) -> Execution:
    """Store and return a new execution replaying this one, from the start or from
    `task_run_id` (the runs that ended before it are kept); `inputs` (resolved) replace
    the original inputs."""
    source = await _load(store, execution_id)
    _check(T.REPLAY.check(source, task_run_id))
    execution = replay_execution(source, task_run_id)
    if inputs is not None:
        execution.inputs = inputs
    await store.create_executions([execution])
    return execution


async def _load(store: Store, execution_id: str) -> Execution:
    execution = await store.get_execution(execution_id)
    if execution is None:
        raise ExecutionNotFound(execution_id)
    return execution


def _check(refusal: T.Refusal | None) -> None:
    if refusal is not None:
        raise CommandRefused(refusal)


async def _publish(store: Store, execution: Execution, event: ExecutionEvent) -> None:
    await store.publish_events([Outgoing(key=execution.id, payload=encode(event))])
