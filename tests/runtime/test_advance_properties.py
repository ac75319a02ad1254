"""Invariants of `advance` over generated flows and generated orders of worker results.

Flows are trees of Log tasks, Sequential, Parallel, ForEach (with a concurrency limit),
EachParallel and WaitFor, some holding an Exit; the worker's results come back in an
order (and batches) hypothesis picks. Whatever the flow and the order:

- every job asked for is for a run that has not ended by the end of that call;
- once an Exit ran, the execution has ended in the Exit's state, every run has ended, and
  no run is ever created again (late results of jobs sent before change nothing);
- in a loop, each task ends at most once per value and per iteration, and, when every
  task succeeds, exactly once.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scenario import Scenario

from kestrad.model import state as S
from kestrad.tasks.flowable_support import ARCHIVED

FLOW = "io.kestra.plugin.core.flow"
EXIT_STATES = {"SUCCESS": "SUCCESS", "WARNING": "WARNING", "FAILED": "FAILED",
               "CANCELED": "CANCELLED", "KILLED": "KILLED"}  # fmt: skip


class Ids:
    def __init__(self) -> None:
        self._next = itertools.count(1)

    def __call__(self, kind: str) -> str:
        return f"{kind}{next(self._next)}"


def _tree(with_exit: bool, with_waitfor: bool) -> st.SearchStrategy[Any]:
    """A recursive description of tasks: ("log",), ("exit", state), or a flowable."""
    leaves = st.just(("log",))
    if with_exit:
        leaves = st.one_of(
            leaves, leaves, st.sampled_from(sorted(EXIT_STATES)).map(lambda s: ("exit", s))
        )

    def flowables(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        kids = st.lists(children, min_size=1, max_size=3)
        options = [
            st.tuples(st.just("seq"), kids),
            st.tuples(st.just("par"), kids, st.integers(0, 2)),
            st.tuples(st.just("foreach"), kids, st.integers(1, 3), st.integers(0, 2)),
            st.tuples(st.just("eachpar"), kids, st.integers(1, 3), st.integers(0, 2)),
        ]
        if with_waitfor:
            options.append(st.tuples(st.just("waitfor"), kids, st.integers(1, 3)))
        return st.one_of(*options)

    return st.lists(st.recursive(leaves, flowables, max_leaves=6), min_size=1, max_size=3)


def _task(node: Any, ids: Ids) -> dict[str, Any]:
    kind = node[0]
    if kind == "log":
        return {"id": ids("log"), "type": "io.kestra.plugin.core.log.Log", "message": "x"}
    if kind == "exit":
        return {"id": ids("exit"), "type": "io.kestra.plugin.core.execution.Exit", "state": node[1]}
    children = [_task(child, ids) for child in node[1]]
    if kind == "seq":
        return {"id": ids("seq"), "type": f"{FLOW}.Sequential", "tasks": children}
    if kind == "par":
        return {
            "id": ids("par"),
            "type": f"{FLOW}.Parallel",
            "tasks": children,
            "concurrent": node[2],
        }
    values = [f"v{i}" for i in range(node[2])] if kind in ("foreach", "eachpar") else None
    if kind == "foreach":
        task_id = ids("each")
        return {"id": task_id, "type": f"{FLOW}.ForEach", "values": values,
                "concurrencyLimit": node[3], "tasks": children}  # fmt: skip
    if kind == "eachpar":
        return {"id": ids("eachpar"), "type": f"{FLOW}.EachParallel", "value": values,
                "concurrent": node[3], "tasks": children}  # fmt: skip
    return {
        "id": ids("wait"),
        "type": f"{FLOW}.WaitFor",
        # Never true: it goes round exactly `maxIterations` times, then ends SUCCESS.
        "condition": "{{ false }}",
        "checkFrequency": {"interval": "PT1S", "maxIterations": node[2]},
        "tasks": children,
    }


def _source(tree: list[Any]) -> str:
    ids = Ids()
    flow = {
        "id": "generated",
        "namespace": "tests.properties",
        "tasks": [_task(n, ids) for n in tree],
    }
    return json.dumps(flow)  # JSON is YAML


def _drive(s: Scenario, data: st.DataObject, states: list[str], check: Any) -> None:
    """Finish jobs (a drawn batch, in a drawn order, each in a drawn state) and deliver due
    loop events until nothing is left; `check` runs after every call."""
    s.start()
    check(s)
    for _ in range(400):
        if s.jobs:
            batch = data.draw(st.lists(st.sampled_from(range(len(s.jobs))), min_size=1,
                                       max_size=len(s.jobs), unique=True))  # fmt: skip
            jobs = [s.jobs[i] for i in batch]
            results = []
            for job in jobs:
                state = data.draw(st.sampled_from(states))
                value = job.variables.get("taskrun", {}).get("value")
                results.append(s.result(job.task_id, state, value=value))
            s.send(*results)
        elif s.pending:
            s.tick(s.pending[0].due - s.clock.now)
        else:
            return
        check(s)
    raise AssertionError("the scenario did not settle in 400 steps")


def _jobs_are_for_live_runs(s: Scenario) -> None:
    assert s.last is not None
    by_id = {r.id: r for r in s.execution.task_run_list}
    for job in s.last.jobs:
        assert not by_id[job.task_run_id].terminated, f"a job for ended run {job.task_id}"


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(tree=_tree(with_exit=True, with_waitfor=False), data=st.data())
def test_nothing_runs_or_stays_open_after_an_exit(tree: list[Any], data: st.DataObject) -> None:
    s = Scenario(_source(tree))
    frozen: dict[str, Any] = {}

    def check(s: Scenario) -> None:
        _jobs_are_for_live_runs(s)
        exits = [r for r in s.execution.task_run_list if r.task_id.startswith("exit")]
        if not exits:
            return
        assert len(exits) == 1, "an Exit ends everything: no second one starts"
        exit_task = s.flow.find_task(exits[0].task_id)
        assert s.state_now == EXIT_STATES[exit_task.state]
        assert all(r.terminated for r in s.execution.task_run_list)
        runs = [(r.id, r.state.current) for r in s.execution.task_run_list]
        if "runs" in frozen:
            assert runs == frozen["runs"], "late results changed an execution ended by Exit"
            assert s.last is not None and s.last.jobs == [] and not s.last.changed
        frozen["runs"] = runs

    _drive(s, data, [S.SUCCESS, S.SUCCESS, S.FAILED, S.WARNING], check)
    assert s.state_now in S.TERMINATED or s.state_now == S.RUNNING


def _no_duplicates(s: Scenario) -> None:
    _jobs_are_for_live_runs(s)
    live = Counter(
        (r.parent_task_run_id, r.task_id, r.value, r.k_branch)
        for r in s.execution.task_run_list
        if r.k_branch != ARCHIVED
    )
    assert max(live.values(), default=1) == 1, [k for k, n in live.items() if n > 1]


@SETTINGS
@given(tree=_tree(with_exit=False, with_waitfor=True), data=st.data())
def test_each_task_ends_once_per_value_and_iteration(tree: list[Any], data: st.DataObject) -> None:
    s = Scenario(_source(tree))
    _drive(s, data, [S.SUCCESS], _no_duplicates)
    assert s.state_now == S.SUCCESS
    assert all(r.state.current == S.SUCCESS for r in s.execution.task_run_list)
    # Exactly once: every (parent, task, value) the flow asks for exists, however the
    # results were ordered, and each WaitFor archived one set of children per extra round.
    for run in s.execution.task_run_list:
        task = s.flow.find_task(run.task_id)
        if task.type.endswith(("ForEach", "EachParallel")):
            values = task.values if task.type.endswith("ForEach") else task.value
            children = [c for c in s.execution.task_run_list if c.parent_task_run_id == run.id]
            assert Counter(c.task_id for c in children) == Counter(
                {t.id: len(values) for t in task.tasks}
            )
        if task.type.endswith("WaitFor"):
            rounds = run.outputs["iterationCount"]
            children = [c for c in s.execution.task_run_list if c.parent_task_run_id == run.id]
            assert len(children) == rounds * len(task.tasks)


@SETTINGS
@given(tree=_tree(with_exit=False, with_waitfor=True), data=st.data())
def test_no_task_runs_twice_whatever_fails(tree: list[Any], data: st.DataObject) -> None:
    s = Scenario(_source(tree))
    _drive(s, data, [S.SUCCESS, S.FAILED, S.WARNING], _no_duplicates)
