"""Commands on ended executions that the executor no longer touches: set their labels,
change their final status, delete them (with their logs and files).

Kestra allows these only on terminated executions (`ExecutionService.setLabels`,
`changeState`, `delete`), so nothing here races the executor: the document is read,
changed and written back as a whole. The API and the CLI call these; the refusals carry
the status the API answers with.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from kestrad.model import state as S
from kestrad.model.execution import Execution, Label
from kestrad.model.state import now_iso
from kestrad.runtime import transitions as T
from kestrad.runtime.commands.executions import CommandRefused, ExecutionNotFound
from kestrad.storage import LocalStorage, StorageError
from kestrad.store.base import Store

# The final statuses an operator may set (Kestra's `changeStatus`).
SETTABLE_STATES = frozenset({S.SUCCESS, S.WARNING, S.FAILED, S.KILLED, S.CANCELLED})
SYSTEM_PREFIX = "system."


async def load(store: Store, execution_id: str) -> Execution:
    execution = await store.get_execution(execution_id)
    if execution is None:
        raise ExecutionNotFound(execution_id)
    return execution


def _ended(execution: Execution, what: str) -> None:
    if not execution.terminated:
        raise CommandRefused(
            T.Refusal(
                what,
                f"Execution {execution.id} is not terminated ({execution.state.current}): "
                f"only an ended execution can {what}",
            )
        )


def check_labels(labels: Mapping[str, str]) -> None:
    """Kestra refuses to set `system.` labels from outside (they belong to the engine)."""
    for key in labels:
        if not key or key.startswith(SYSTEM_PREFIX):
            raise CommandRefused(
                T.Refusal(
                    "set labels", f"label `{key}` cannot be set: system labels are read-only", 400
                )
            )


async def set_labels(store: Store, execution_id: str, labels: Mapping[str, str]) -> Execution:
    """Replace the ended execution's own labels by `labels`; its system labels stay."""
    check_labels(labels)
    execution = await load(store, execution_id)
    _ended(execution, "have its labels set")
    kept = [lb for lb in execution.labels if lb.key.startswith(SYSTEM_PREFIX)]
    execution.labels = kept + [Label(key=k, value=str(v)) for k, v in labels.items()]
    await store.save_executions([execution])
    return execution


async def change_status(store: Store, execution_id: str, status: str) -> Execution:
    """Set the final status of an ended execution (a history entry records the change)."""
    target = status.upper()
    if target not in SETTABLE_STATES:
        raise CommandRefused(
            T.Refusal(
                "change status",
                f"`{status}` is not a status an execution can be given "
                f"(one of {', '.join(sorted(SETTABLE_STATES))})",
                400,
            )
        )
    execution = await load(store, execution_id)
    _ended(execution, "change status")
    execution.state.set(target, now_iso())
    await store.save_executions([execution])
    return execution


async def delete(
    store: Store,
    storage: LocalStorage,
    execution_ids: list[str],
    *,
    logs: bool = True,
    files: bool = True,
    non_terminated: bool = False,
) -> int:
    """Delete executions (and their logs and internal-storage files); how many went.

    A running execution is refused unless `non_terminated`: deleting it from under the
    executor would lose its work without a trace.
    """
    found: list[Execution] = []
    for execution_id in execution_ids:
        execution = await load(store, execution_id)
        if not non_terminated:
            _ended(execution, "be deleted")
        found.append(execution)
    deleted, _ = await store.delete_executions([e.id for e in found], logs=logs)
    if files:
        for execution in found:
            # An id the storage cannot name has no files either.
            with contextlib.suppress(StorageError):
                storage.purge_execution(execution.namespace, execution.flow_id, execution.id)
    return deleted
