"""Flow `concurrency: {limit, behavior}`: the admission bookkeeping of one executor batch.

The executor admits an execution (CREATED or QUEUED → RUNNING) only while fewer than
`limit` executions of its flow are running or paused: the decision is the admission rule
of runtime/transitions.py; this module keeps the counts it decides on. The count is read
in the executor's own transaction and corrected for what this batch already admitted or ended, so the
check and the state change commit together (on PostgreSQL, batches of several daemons
touching one limited flow are serialized by a lock taken before the count is read). When
a running execution of a QUEUE flow ends, the oldest queued ones are woken up, one per
free slot, and checked again in the next batch.
"""

from __future__ import annotations

from kestrad.model import state as S
from kestrad.model.execution import Execution
from kestrad.model.flow import Flow
from kestrad.runtime.transitions import ADMISSION, Refusal
from kestrad.store.base import BatchView

COUNTED = frozenset({S.RUNNING, S.PAUSED, S.RETRYING, S.KILLING, S.RESTARTED})


class Admission:
    """Per-batch bookkeeping over the store's counts."""

    def __init__(self, view: BatchView) -> None:
        self._view = view
        self._delta: dict[tuple[str, str], int] = {}
        self._woken: set[str] = set()
        self._woken_of: dict[tuple[str, str], int] = {}

    def verdict(self, execution: Execution, flow: Flow, *, killing: bool = False) -> Refusal | None:
        """None to admit, else the admission rule's refusal (QUEUED, CANCELLED or FAILED).

        An admitted execution holds a slot from now on, for the rest of the batch.
        """
        concurrency = flow.concurrency
        key = (execution.namespace, execution.flow_id)
        running = 0 if killing else self._view.running_count(*key) + self._delta.get(key, 0)
        refusal = ADMISSION.check(concurrency.limit, concurrency.behavior, running, killing=killing)
        if refusal is None and not killing:
            self._delta[key] = self._delta.get(key, 0) + 1
        return refusal

    def ended(self, execution: Execution, flow: Flow, state_before: str) -> list[str]:
        """An execution ended: free its slot; the ids of queued ones to wake, oldest first.

        One per slot now free that this batch did not wake one for already, and at least
        one. A queued execution stays QUEUED until its wake-up is processed, so an end in
        a later batch may wake it again (harmless: it is checked again); waking a single
        one per end would leave the other free slots idle until the next end.
        """
        if flow.concurrency is None:
            return []
        key = (execution.namespace, execution.flow_id)
        if state_before in COUNTED or state_before == S.CREATED:
            self._delta[key] = self._delta.get(key, 0) - 1
        if (flow.concurrency.behavior or "QUEUE") != "QUEUE":
            return []
        running = self._view.running_count(*key) + self._delta.get(key, 0)
        woken_here = self._woken_of.get(key, 0)
        wanted = max(1, flow.concurrency.limit - running - woken_here)
        out: list[str] = []
        for candidate in self._view.queued_ids(*key, woken_here + wanted + 1):
            if candidate not in self._woken and candidate != execution.id:
                self._woken.add(candidate)
                out.append(candidate)
                if len(out) == wanted:
                    break
        self._woken_of[key] = woken_here + len(out)
        return out
