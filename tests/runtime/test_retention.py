"""Retention deletes ended executions (logs and files too) past their age, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kestrad.config import Config
from kestrad.runtime.engine import Engine
from kestrad.runtime.retention import purge_once

pytestmark = pytest.mark.anyio

QUICK = """
id: quick
namespace: tests.retention
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: hello
"""
PAUSED = """
id: held
namespace: tests.retention
tasks:
  - id: hold
    type: io.kestra.plugin.core.flow.Pause
"""


async def test_retention_removes_old_ended_executions_and_keeps_the_rest() -> None:
    config = Config()
    config.retention.executions = "P1D"
    async with Engine.open(config=config) as engine:
        await engine.deploy_source(QUICK)
        await engine.deploy_source(PAUSED)
        ended = await engine.create_execution("tests.retention", "quick")
        await engine.wait_for(ended.id)
        held = await engine.create_execution("tests.retention", "held")
        await engine.wait_for(held.id, until=lambda e: e.state.current == "PAUSED")

        nothing = await purge_once(engine.services, config)
        assert nothing["executions"] == 0, "young executions stay"

        later = datetime.now(UTC) + timedelta(days=2)
        done = await purge_once(engine.services, config, now=later)
        assert done["executions"] == 1 and done["logs"] >= 1
        assert await engine.get_execution(ended.id) is None
        assert await engine.logs(ended.id) == []
        assert await engine.get_execution(held.id) is not None, "a paused execution stays"
