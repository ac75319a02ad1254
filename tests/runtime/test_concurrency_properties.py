"""Flow `concurrency` under generated interleavings of create, end and kill.

Each example drives a real Engine: executions of a flow whose only task is a Pause are
created, ended (resumed, so they finish) and killed in a generated order, without waiting
for the executor between operations, so admissions, ends and kills land in the same or in
neighbouring batches; a command may be sent twice at once (both pass the command's check,
the executor's transition rule ignores the one that no longer applies). Whatever the order:

- never more than `limit` executions are RUNNING or PAUSED at once (from their histories);
- with QUEUE, every queued execution that was not killed eventually runs;
- with CANCEL / FAIL, a refused execution never ran;
- nothing is lost: every created execution exists and ends.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kestrad.model.execution import Execution
from kestrad.model.state import parse_iso
from kestrad.runtime.commands.executions import CommandRefused
from kestrad.runtime.engine import Engine

NS = "tests.concurrency.props"
HELD = frozenset({"RUNNING", "PAUSED"})
REFUSED = {"QUEUE": None, "CANCEL": "CANCELLED", "FAIL": "FAILED"}


def _flow(limit: int, behavior: str) -> str:
    return f"""
id: gated
namespace: {NS}
concurrency:
  limit: {limit}
  behavior: {behavior}
tasks:
  - id: hold
    type: io.kestra.plugin.core.flow.Pause
  - id: done
    type: io.kestra.plugin.core.debug.Return
    format: ok
"""


@dataclass(frozen=True)
class Op:
    kind: str  # create | end | kill | settle
    target: int = 0
    # Send the command twice at once: both pass the command's check (the store still says
    # PAUSED / not ended), the executor's rule must then ignore the second one.
    twice: bool = False


ops = st.lists(
    st.one_of(
        st.just(Op("create")),
        st.builds(Op, st.just("end"), st.integers(0, 7), st.booleans()),
        st.builds(Op, st.just("kill"), st.integers(0, 7), st.booleans()),
        st.just(Op("settle")),
    ),
    min_size=3,
    max_size=14,
)


def _peak_held(executions: list[Execution]) -> int:
    """The most executions RUNNING or PAUSED at one instant, from their state histories."""
    events: list[tuple[float, int]] = []
    for execution in executions:
        held_since: float | None = None
        for entry in execution.state.histories:
            at = parse_iso(entry.date).timestamp()
            if entry.state in HELD and held_since is None:
                held_since = at
                events.append((at, 1))
            elif entry.state not in HELD and held_since is not None:
                held_since = None
                events.append((at, -1))
    events.sort(key=lambda e: (e[0], e[1]))  # at equal instants, a release comes first
    peak = current = 0
    for _, delta in events:
        current += delta
        peak = max(peak, current)
    return peak


async def _scenario(limit: int, behavior: str, plan: list[Op]) -> tuple[list[str], list[Execution]]:
    async with Engine.open() as engine:
        await engine.deploy_source(_flow(limit, behavior))
        created: list[str] = []
        for op in plan:
            if op.kind == "create":
                created.append((await engine.create_execution(NS, "gated")).id)
            elif op.kind == "settle":
                await anyio.sleep(0.05)
            elif created:
                target = created[op.target % len(created)]
                # A generated target may have ended (or not be paused): refused, as any
                # client would be.
                for _ in range(2 if op.twice else 1):
                    with contextlib.suppress(CommandRefused):
                        if op.kind == "kill":
                            await engine.kill(target)
                        else:
                            await engine.resume(target)
        finals = await _drain(engine, created)
    return created, finals


async def _drain(engine: Engine, ids: list[str]) -> list[Execution]:
    """Resume whatever pauses until every execution ended (queued ones start meanwhile)."""
    deadline = time.monotonic() + 60
    while True:
        found = [await engine.get_execution(i) for i in ids]
        assert all(e is not None for e in found), "an execution was lost"
        executions = [e for e in found if e is not None]
        if all(e.terminated for e in executions):
            return executions
        assert time.monotonic() < deadline, [e.state.current for e in executions]
        for execution in executions:
            if execution.state.current == "PAUSED":
                with contextlib.suppress(CommandRefused):  # resumed meanwhile
                    await engine.resume(execution.id)
        await anyio.sleep(0.05)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    limit=st.integers(1, 2),
    behavior=st.sampled_from(["QUEUE", "CANCEL", "FAIL"]),
    plan=ops,
)
def test_concurrency_holds_under_any_interleaving(
    limit: int, behavior: str, plan: list[Op]
) -> None:
    created, finals = anyio.run(_scenario, limit, behavior, plan)
    assert len(finals) == len(created)
    assert _peak_held(finals) <= limit
    refused = REFUSED[behavior]
    for execution in finals:
        history = [h.state for h in execution.state.histories]
        if refused is not None and execution.state.current == refused and "RUNNING" not in history:
            assert "QUEUED" not in history
            continue
        if behavior == "QUEUE":
            assert execution.state.current in ("SUCCESS", "KILLED"), history
            if "QUEUED" in history and execution.state.current != "KILLED":
                assert "RUNNING" in history, history
        else:
            assert "QUEUED" not in history, history
