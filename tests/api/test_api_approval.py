"""Approval decisions over HTTP: POST /executions/{id}/approve and /deny (Kestra 1.x's
core Approval task), with the comment and decision inputs, and hostile requests."""

from __future__ import annotations

import pytest
from api_support import api_client, running_engine

pytestmark = pytest.mark.anyio

BASE = "/api/v1/main"

REVIEW = """
id: review
namespace: tests.api
tasks:
  - id: approval
    type: io.kestra.plugin.core.flow.Approval
    onApprove:
      - id: yes
        type: io.kestra.plugin.core.log.Log
        message: "approved: {{ outputs.approval.comment }} {{ outputs.approval.inputs.ticket }}"
    onDeny:
      - id: no
        type: io.kestra.plugin.core.log.Log
        message: denied
"""


async def _paused(engine) -> str:
    created = await engine.create_execution("tests.api", "review")
    await engine.wait_for(created.id, lambda e: e.state.current == "PAUSED")
    return created.id


async def test_approve_with_a_comment_and_inputs_then_deny_cancels() -> None:
    async with running_engine(REVIEW) as engine, api_client(engine) as client:
        approved = await _paused(engine)
        response = await client.post(
            f"{BASE}/executions/{approved}/approve",
            params={"comment": "looks good"},
            json={"ticket": "T-1"},
        )
        assert response.status_code == 204, response.text
        done = await engine.wait_for(approved, timeout=10)
        run = next(r for r in done.task_run_list if r.task_id == "approval")
        assert done.state.current == "SUCCESS"
        assert run.outputs["decision"] == "APPROVED" and run.outputs["comment"] == "looks good"
        assert run.outputs["inputs"] == {"ticket": "T-1"}
        denied = await _paused(engine)
        assert (await client.post(f"{BASE}/executions/{denied}/deny")).status_code == 204
        assert (await engine.wait_for(denied, timeout=10)).state.current == "CANCELLED"


async def test_hostile_decisions_are_refused() -> None:
    async with running_engine(REVIEW) as engine, api_client(engine) as client:
        paused = await _paused(engine)
        missing = await client.post(f"{BASE}/executions/nope/approve")
        assert missing.status_code == 404
        long = await client.post(
            f"{BASE}/executions/{paused}/approve", params={"comment": "x" * 10_001}
        )
        assert long.status_code == 422
        assert (await client.post(f"{BASE}/executions/{paused}/deny")).status_code == 204
        await engine.wait_for(paused, timeout=10)
        again = await client.post(f"{BASE}/executions/{paused}/approve")
        assert again.status_code == 409, "an ended execution takes no decision"
