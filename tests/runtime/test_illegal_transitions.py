"""An illegal state change inside `advance` is a bug: it raises there (so tests see it at
once), and the executor turns it into that one execution ending FAILED, logged, while the
daemon goes on with the others."""

from __future__ import annotations

import pytest
from scenario import Scenario

from kestrad.model.execution import Execution
from kestrad.model.state import StateInfo
from kestrad.runtime.engine import Engine
from kestrad.runtime.transitions import IllegalTransition

FLOW = """
id: plain
namespace: tests.illegal
tasks:
  - id: hello
    type: io.kestra.plugin.core.debug.Return
    format: hi
"""


def _corrupt(execution: Execution) -> Execution:
    # RESTARTED is only ever passed through inside one `advance` call; stored, it can only
    # come from a bug: ending it SUCCESS is not a transition the table lists.
    execution.state = StateInfo.new("RESTARTED")
    return execution


def test_advance_raises_on_an_illegal_transition() -> None:
    s = Scenario(FLOW)
    _corrupt(s.execution)
    s.execution.task_run_list = []
    with pytest.raises(IllegalTransition, match="execution cannot go from RESTARTED to"):
        s.start()
        s.finish("hello")


@pytest.mark.anyio
async def test_the_executor_fails_that_execution_only() -> None:
    async with Engine.open() as engine:
        flow = await engine.deploy_source(FLOW)
        broken = _corrupt(
            Execution.new(namespace=flow.namespace, flow_id=flow.id, flow_revision=flow.revision)
        )
        await engine.store.create_executions([broken])
        engine.hub.executor_wake.set()
        failed = await engine.wait_for(broken.id, timeout=30)
        assert failed.state.current == "FAILED"
        messages = [entry.message for entry in await engine.logs(broken.id)]
        assert any("internal error: IllegalTransition" in m for m in messages), messages
        healthy = await engine.create_execution(flow.namespace, flow.id)
        assert (await engine.wait_for(healthy.id, timeout=30)).state.current == "SUCCESS"
