"""Flow triggers with windows, through a real engine on both stores.

An executor batch declares the windows it may read (`BatchLocks`) and a store answers only
those (PostgreSQL locks them; both stores refuse an undeclared read). A window must never
be read for an execution no precondition can count: that read used to raise inside the
batch, which then failed again at every retry and stopped every execution behind it.
"""

from __future__ import annotations

import pytest

from kestrad.runtime.engine import Engine

pytestmark = pytest.mark.anyio

LISTENER = """
id: listener
namespace: tests.windows
tasks:
  - id: heard
    type: io.kestra.plugin.core.log.Log
    message: heard
triggers:
  - id: after_a
    type: io.kestra.plugin.core.trigger.Flow
    preconditions:
      id: a_done
      flows:
        - namespace: tests.windows
          flowId: a
          states: [SUCCESS]
"""


def _flow(flow_id: str) -> str:
    return f"""
id: {flow_id}
namespace: tests.windows
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "{flow_id}"
"""


async def test_an_execution_no_precondition_counts_ends_and_reads_no_window(
    database_url: str,
) -> None:
    async with Engine.open(database_url) as engine:
        for source in (LISTENER, _flow("a"), _flow("b")):
            await engine.deploy_source(source)
        unrelated = await engine.create_execution("tests.windows", "b")
        assert (await engine.wait_for(unrelated.id, timeout=20)).state.current == "SUCCESS"
        upstream = await engine.create_execution("tests.windows", "a")
        assert (await engine.wait_for(upstream.id, timeout=20)).state.current == "SUCCESS"
        # the counted upstream still fires the listener
        for _ in range(100):
            fired = await engine.store.executions_triggered_by(upstream.id)
            if fired:
                break
            await engine.wait_for(upstream.id, timeout=1)
        assert [e.flow_id for e in fired] == ["listener"]
        assert (await engine.wait_for(fired[0].id, timeout=20)).state.current == "SUCCESS"
