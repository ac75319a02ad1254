"""Which trigger locks an ended execution releases, written in the transaction that ends it.

A Schedule, ScheduleOnDates or polling trigger fires again only once the execution it
started has ended. Clearing `triggers.execution_id` in the executor's own batch transaction means
no window exists in which the execution is ended but its trigger still locked, whatever
happens to this process afterwards; the scheduler's in-memory index follows through its
`execution_ended` notice, and the monitor stays as the safety net.
"""

from __future__ import annotations

from collections.abc import Iterable

from kestrad.model.execution import Execution
from kestrad.triggers.registry import canonical_trigger_type

# The scheduler's triggers: one execution at a time each (polling triggers too).
_LOCKING = frozenset(
    {
        "io.kestra.plugin.core.trigger.Schedule",
        "io.kestra.plugin.core.trigger.ScheduleOnDates",
        "io.kestra.plugin.core.http.Trigger",
    }
)


def released_locks(ended: Iterable[Execution]) -> list[tuple[str, str, str, str]]:
    """(namespace, flow id, trigger id, execution id) of each lock the ended executions held.

    The store clears a lock only while it still names that execution, so a stale entry
    (the lock already released, or taken by a later fire) changes nothing.
    """
    out: list[tuple[str, str, str, str]] = []
    seen: set[str] = set()
    for execution in ended:
        trigger = execution.trigger
        if trigger is None or execution.id in seen:
            continue
        if canonical_trigger_type(trigger.type) in _LOCKING:
            seen.add(execution.id)
            out.append((execution.namespace, execution.flow_id, trigger.id, execution.id))
    return out
