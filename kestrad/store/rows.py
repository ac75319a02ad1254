"""What both stores share about rows: the columns an execution is stored with, which
search query fits a filter, instance rows and whether a local process still lives."""

from __future__ import annotations

import os
from typing import Any

from kestrad.model.execution import Execution, encode_execution
from kestrad.store.base import InstanceRow


def execution_row(e: Execution) -> tuple[Any, ...]:
    """The indexed columns of `executions` (the document itself is the last one)."""
    trigger_execution = None
    if e.trigger is not None:
        trigger_execution = e.trigger.variables.get("executionId")
    return (
        e.id,
        e.namespace,
        e.flow_id,
        e.flow_revision,
        e.state.current,
        e.state.start_date,
        e.state.end_date,
        trigger_execution,
        encode_execution(e),
    )


def search_variant(namespace: str | None, flow_id: str | None, state: str | None) -> str:
    """Which search query has an index for these filters (see the queries.sql files)."""
    if state is not None:
        return "state"
    if namespace is not None and flow_id is not None:
        return "flow"
    if namespace is not None:
        return "namespace"
    return "all"


def instance_row(r: Any) -> InstanceRow:
    return InstanceRow(
        id=r[0], roles=r[1], host=r[2], pid=r[3], started=r[4], heartbeat=r[5], state=r[6]
    )


def pid_alive(pid: int) -> bool:
    """A process of this host still exists (instances on this host are checked directly)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
