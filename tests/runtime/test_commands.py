"""Execution commands on a real store (SQLite and PostgreSQL): each is checked by its
transition rule, then published as one event on the execution (or, for a replay, stored
as a new execution); a refused command publishes nothing."""

from __future__ import annotations

import time

import pytest

from kestrad.model import state as S
from kestrad.model.execution import Execution, TaskRun
from kestrad.model.state import StateInfo
from kestrad.runtime.commands import executions as commands

pytestmark = pytest.mark.anyio


def _execution(state: str) -> Execution:
    execution = Execution.new(namespace="tests.commands", flow_id="f", flow_revision=1)
    execution.state = StateInfo.new(state)
    execution.task_run_list = [
        TaskRun(
            id="run-1",
            execution_id=execution.id,
            namespace=execution.namespace,
            flow_id="f",
            task_id="t",
            state=StateInfo.new(S.FAILED),
        )
    ]
    return execution


async def _stored(store, state: str) -> Execution:
    execution = _execution(state)
    await store.create_executions([execution])
    return execution


async def _depth(store) -> int:
    stats = {s.topic: s.depth for s in await store.queue_stats(time.time())}
    return stats["execution"]


async def test_kill_publishes_one_kill_event(store) -> None:
    execution = await _stored(store, S.RUNNING)
    before = await _depth(store)
    returned = await commands.kill(store, execution.id)
    assert returned.id == execution.id and returned.state.current == S.RUNNING
    assert await _depth(store) == before + 1


async def test_a_refused_command_publishes_nothing(store) -> None:
    ended = await _stored(store, S.SUCCESS)
    running = await _stored(store, S.RUNNING)
    before = await _depth(store)
    with pytest.raises(commands.CommandRefused) as killed:
        await commands.kill(store, ended.id)
    assert (killed.value.status, killed.value.message) == (409, "Execution already ended (SUCCESS)")
    with pytest.raises(commands.CommandRefused, match=r"Execution is not paused \(RUNNING\)"):
        await commands.resume(store, running.id)
    with pytest.raises(commands.CommandRefused, match=r"Only an ended or paused execution"):
        await commands.restart(store, running.id)
    assert await _depth(store) == before


async def test_resume_checks_the_flow_when_asked(store) -> None:
    paused = await _stored(store, S.PAUSED)
    before = await _depth(store)
    with pytest.raises(commands.CommandRefused, match=r"belongs to tests\.commands/f, not a/b"):
        await commands.resume(store, paused.id, {"who": "ops"}, flow=("a", "b"))
    assert await _depth(store) == before
    await commands.resume(store, paused.id, {"who": "ops"}, flow=("tests.commands", "f"))
    assert await _depth(store) == before + 1


async def test_replay_stores_a_new_execution_from_a_task_run_of_its_own(store) -> None:
    source = await _stored(store, S.FAILED)
    with pytest.raises(commands.CommandRefused) as refused:
        await commands.replay(store, source.id, "not-a-run")
    assert refused.value.status == 422
    replay = await commands.replay(store, source.id, "run-1")
    stored = await store.get_execution(replay.id)
    assert stored is not None and stored.state.current == S.CREATED
    assert stored.original_id == source.id and stored.metadata.attempt_number == 2


async def test_an_unknown_execution_is_not_found(store) -> None:
    for command in (commands.kill, commands.resume, commands.restart, commands.replay):
        with pytest.raises(commands.ExecutionNotFound, match="execution nope not found"):
            await command(store, "nope")
