"""Replay: a new execution of the same flow that starts again from a chosen task run.

The task runs that ended before the chosen one are copied (new ids, same outputs), the
chosen one and everything after it are dropped, and its ancestors are re-opened, so the
executor resolves the flow from that point as if it had just got there.
"""

from __future__ import annotations

import msgspec

from kestrad.model import state as S
from kestrad.model.execution import Execution, Label, StateInfo
from kestrad.model.ids import new_id


class ReplayError(ValueError):
    """The task run to replay from is not part of the execution."""


def replay_execution(source: Execution, task_run_id: str | None = None) -> Execution:
    """A CREATED execution replaying `source`, from scratch or from `task_run_id`."""
    replay = Execution.new(
        namespace=source.namespace,
        flow_id=source.flow_id,
        flow_revision=source.flow_revision,
        inputs=dict(source.inputs),
        labels=[Label(key=lb.key, value=lb.value) for lb in source.labels],
        trigger=source.trigger,
    )
    replay.original_id = source.original_id or source.id
    replay.metadata.attempt_number = source.metadata.attempt_number + 1
    replay.metadata.original_created_date = source.metadata.original_created_date
    if task_run_id is None:
        return replay
    runs = source.task_run_list
    position = next((i for i, run in enumerate(runs) if run.id == task_run_id), None)
    if position is None:
        raise ReplayError(f"task run {task_run_id} is not part of execution {source.id}")
    by_id = {run.id: run for run in runs}
    ancestors: set[str] = set()
    parent = runs[position].parent_task_run_id
    while parent is not None and parent in by_id:
        ancestors.add(parent)
        parent = by_id[parent].parent_task_run_id
    kept = [run for run in runs[:position] if run.terminated or run.id in ancestors]
    new_ids = {run.id: new_id() for run in kept}
    for run in kept:
        copy = msgspec.structs.replace(run)
        copy.id = new_ids[run.id]
        copy.execution_id = replay.id
        copy.parent_task_run_id = (
            new_ids.get(run.parent_task_run_id) if run.parent_task_run_id else None
        )
        if run.id in ancestors:
            copy.state = StateInfo.new(S.RUNNING)
        replay.task_run_list.append(copy)
    return replay
