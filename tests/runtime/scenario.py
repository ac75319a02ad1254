"""A scenario harness for `advance`: run a flow by hand, with a clock that only moves when
told to, and no store, worker or sleep.

    s = Scenario(FLOW_YAML)
    s.start()                                  # CREATED → RUNNING, first jobs asked for
    assert s.job_ids() == ["first"]
    s.finish("first", "FAILED")                # the worker's report
    s.tick(30)                                 # 30 s later: due delayed events delivered
    assert s.state("first") == "RETRYING"

Everything `advance` asks for is collected: worker jobs not finished yet (`jobs`), delayed
events not delivered yet (`pending`), executor log lines, new executions (subflows,
retries as new executions) and notices for other executions. Ids come from a counter and
dates from the fake clock, so two runs of a scenario give the same execution, byte for byte.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any

from kestrad.expr.engine import Renderer
from kestrad.flows.loader import load_flow
from kestrad.model.execution import Execution, TaskRun
from kestrad.model.messages import (
    ExecutionEvent,
    Kill,
    Restart,
    Resume,
    SubflowEnded,
    TaskResult,
    Wake,
    WorkerJob,
)
from kestrad.model.state import History, iso_from_epoch
from kestrad.runtime.advance import (
    AdvanceEnv,
    AdvanceResult,
    Delayed,
    LogRecord,
    NewExecution,
    Notice,
    advance,
)

# 2026-01-01T00:00:00Z: far from any second boundary trouble, easy to read in a history.
START = 1_767_225_600.0


class FakeClock:
    """Epoch seconds that move only when the test says so."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def iso(self) -> str:
        return iso_from_epoch(self.now)


class CountingIds:
    """`id0001`, `id0002`, …: readable, unique, deterministic."""

    def __init__(self, prefix: str = "id") -> None:
        self._next = itertools.count(1)
        self.prefix = prefix

    def __call__(self) -> str:
        return f"{self.prefix}{next(self._next):04d}"


def load(source: str, revision: int = 1) -> Any:
    flow = load_flow(source)
    flow.revision = revision
    return flow


class Scenario:
    """One execution of one flow, advanced by hand."""

    def __init__(
        self,
        source: str | Any,
        *,
        inputs: Mapping[str, Any] | None = None,
        subflows: Iterable[str] = (),
        clock: FakeClock | None = None,
        ids: CountingIds | None = None,
        execution: Execution | None = None,
        flows: dict[tuple[str, str], list[Any]] | None = None,
    ) -> None:
        self.flow = load(source) if isinstance(source, str) else source
        self.clock = clock or FakeClock()
        self.ids = ids or CountingIds()
        # Every known revision of every flow, for Subflow tasks and restarts with a revision.
        self.flows: dict[tuple[str, str], list[Any]] = flows if flows is not None else {}
        self.add_flow(self.flow)
        for sub in subflows:
            self.add_flow(load(sub))
        self.env = AdvanceEnv(
            Renderer(), self.clock, ids=self.ids, flow_lookup=self._lookup, secret_key=None
        )
        self.execution = execution or Execution.new(
            namespace=self.flow.namespace,
            flow_id=self.flow.id,
            flow_revision=self.flow.revision,
            inputs=dict(inputs or {}),
            execution_id=self.ids(),
            created=self.clock.iso(),
        )
        self.jobs: list[WorkerJob] = []
        self.pending: list[Delayed] = []
        self.logs: list[LogRecord] = []
        self.new_executions: list[NewExecution] = []
        self.notices: list[Notice] = []
        self.last: AdvanceResult | None = None
        self.calls = 0

    # -- flows ------------------------------------------------------------------------------
    def add_flow(self, flow: Any) -> Any:
        revisions = self.flows.setdefault((flow.namespace, flow.id), [])
        if flow not in revisions:
            revisions.append(flow)
        return flow

    def deploy(self, source: str) -> Any:
        """A new revision of a flow (for a restart on a fixed revision)."""
        flow = load_flow(source)
        flow.revision = len(self.flows.get((flow.namespace, flow.id), [])) + 1
        return self.add_flow(flow)

    def _lookup(self, namespace: str, flow_id: str, revision: int | None) -> Any:
        revisions = self.flows.get((namespace, flow_id))
        if not revisions:
            return None
        if revision is None:
            return revisions[-1]
        return next((f for f in revisions if f.revision == revision), None)

    # -- driving ----------------------------------------------------------------------------
    def send(self, *events: ExecutionEvent) -> AdvanceResult:
        """Deliver events, as one executor batch would, and collect what `advance` asks."""
        flow = self._lookup(
            self.execution.namespace, self.execution.flow_id, self.execution.flow_revision
        )
        result = advance(self.execution, flow or self.flow, list(events), self.env)
        self.calls += 1
        self.last = result
        self.jobs.extend(result.jobs)
        self.pending.extend(result.delayed)
        self.pending.sort(key=lambda d: d.due)
        self.logs.extend(result.logs)
        self.new_executions.extend(result.new_executions)
        self.notices.extend(result.notices)
        return result

    def start(self) -> AdvanceResult:
        return self.send(Wake())

    def job(self, task_id: str, value: str | None = None) -> WorkerJob:
        """The job asked for `task_id` (and loop `value`), not finished yet."""
        for job in self.jobs:
            if job.task_id == task_id and (
                value is None or job.variables.get("taskrun", {}).get("value") == value
            ):
                return job
        raise AssertionError(f"no job for {task_id} {value or ''}; jobs: {self.job_ids()}")

    def result(
        self,
        task_id: str,
        state: str = "SUCCESS",
        outputs: dict[str, Any] | None = None,
        *,
        value: str | None = None,
        took: float = 0.0,
        dynamic: list[Any] | None = None,
    ) -> TaskResult:
        """The worker's report that `task_id`'s job ended in `state` after `took` seconds
        (the clock moves by `took`); the job leaves `jobs`."""
        job = self.job(task_id, value)
        self.jobs.remove(job)
        started = self.clock.iso()
        self.clock.now += took
        return TaskResult(
            task_run_id=job.task_run_id,
            attempt=job.attempt,
            state=state,
            histories=[
                History(state="RUNNING", date=started),
                History(state=state, date=self.clock.iso()),
            ],
            outputs=outputs,
            dynamic=dynamic,
        )

    def finish(
        self,
        task_id: str,
        state: str = "SUCCESS",
        outputs: dict[str, Any] | None = None,
        *,
        value: str | None = None,
        took: float = 0.0,
    ) -> AdvanceResult:
        return self.send(self.result(task_id, state, outputs, value=value, took=took))

    def finish_all(self, state: str = "SUCCESS") -> AdvanceResult | None:
        """Finish every job asked for, in one batch; None when there were none."""
        if not self.jobs:
            return None
        results = [
            self.result(j.task_id, state, value=j.variables.get("taskrun", {}).get("value"))
            for j in list(self.jobs)
        ]
        return self.send(*results)

    def tick(self, seconds: float) -> AdvanceResult | None:
        """Move the clock; deliver the delayed events now due, in one batch (in due order).

        None when nothing was due.
        """
        self.clock.now += seconds
        due = [d for d in self.pending if d.due <= self.clock.now]
        if not due:
            return None
        self.pending = [d for d in self.pending if d.due > self.clock.now]
        return self.send(*(d.event for d in due))

    def kill(self) -> AdvanceResult:
        return self.send(Kill())

    def resume(self, inputs: dict[str, Any] | None = None) -> AdvanceResult:
        return self.send(Resume(inputs=inputs))

    def restart(self, revision: int | None = None) -> AdvanceResult:
        return self.send(Restart(revision=revision))

    def child(self, task_id: str | None = None) -> Scenario:
        """The execution a Subflow (or a retry) created, as a scenario of its own sharing
        this one's clock, ids and flows."""
        for created in self.new_executions:
            trigger = created.execution.trigger
            if task_id is None or (trigger is not None and trigger.id == task_id):
                execution = created.execution
                flow = self._lookup(execution.namespace, execution.flow_id, execution.flow_revision)
                return Scenario(
                    flow, clock=self.clock, ids=self.ids, execution=execution, flows=self.flows
                )
        raise AssertionError(f"no new execution for {task_id}")

    def deliver(self, other: Scenario) -> AdvanceResult:
        """Deliver the notices another scenario produced for this execution."""
        events = [n.event for n in other.notices if n.execution_id == self.execution.id]
        assert events, "no notice for this execution"
        other.notices = [n for n in other.notices if n.execution_id != self.execution.id]
        return self.send(*events)

    def child_ended(
        self, task_id: str, state: str, outputs: dict[str, Any] | None = None
    ) -> AdvanceResult:
        """A Subflow's child ended (as its executor would notify this one)."""
        run = self.run(task_id)
        return self.send(
            SubflowEnded(
                task_run_id=run.id,
                child_id=str(run.outputs.get("executionId")),
                state=state,
                outputs=outputs,
            )
        )

    # -- looking ----------------------------------------------------------------------------
    @property
    def state_now(self) -> str:
        return self.execution.state.current

    def job_ids(self) -> list[str]:
        return [j.task_id for j in self.jobs]

    def runs(self, task_id: str) -> list[TaskRun]:
        return [r for r in self.execution.task_run_list if r.task_id == task_id]

    def run(self, task_id: str, value: str | None = None) -> TaskRun:
        runs = [r for r in self.runs(task_id) if value is None or r.value == value]
        assert runs, f"no run of {task_id} {value or ''}"
        return runs[-1]

    def state(self, task_id: str, value: str | None = None) -> str:
        return self.run(task_id, value).state.current

    def states(self) -> dict[str, str]:
        """`task_id` (or `task_id[value]` in loops) → current state; the last run wins."""
        out: dict[str, str] = {}
        for run in self.execution.task_run_list:
            key = run.task_id if run.value is None else f"{run.task_id}[{run.value}]"
            out[key] = run.state.current
        return out

    def history(self, task_id: str | None = None) -> list[str]:
        info = self.execution.state if task_id is None else self.run(task_id).state
        return [h.state for h in info.histories]

    def due_in(self) -> list[tuple[float, str]]:
        """(seconds from now, event tag) of the delayed events not delivered yet."""
        return [(round(d.due - self.clock.now, 6), type(d.event).__name__) for d in self.pending]

    def messages(self, level: str | None = None) -> list[str]:
        return [r.message for r in self.logs if level is None or r.level == level]
