"""`kestrad executions approve|deny`: answer a paused Approval task from the shell, on a
running engine's database (the decision is queued like any command)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from kestrad.runtime.engine import Engine

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.anyio

REVIEW = """
id: review
namespace: tests.cli
tasks:
  - id: approval
    type: io.kestra.plugin.core.flow.Approval
    onApprove:
      - id: yes
        type: io.kestra.plugin.core.log.Log
        message: yes
"""


def kestrad(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kestrad", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


async def test_approve_and_deny_from_the_cli(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/kestrad.db"
    config = tmp_path / "kestrad.yml"
    config.write_text(f"database:\n  url: {url}\nflows:\n  path: {tmp_path}/flows\n")
    async with Engine.open(url) as engine:
        await engine.deploy_source(REVIEW)
        approved = await engine.create_execution("tests.cli", "review")
        await engine.wait_for(approved.id, lambda e: e.state.current == "PAUSED")
        ran = await anyio.to_thread.run_sync(
            lambda: kestrad(
                "executions",
                "approve",
                approved.id,
                "--comment",
                "ok",
                "-i",
                "ticket=T-1",
                "--config",
                str(config),
            )
        )
        assert ran.returncode == 0, ran.stderr
        done = await engine.wait_for(approved.id, timeout=20)
        run = next(r for r in done.task_run_list if r.task_id == "approval")
        assert done.state.current == "SUCCESS"
        assert run.outputs["comment"] == "ok" and run.outputs["inputs"] == {"ticket": "T-1"}
        denied = await engine.create_execution("tests.cli", "review")
        await engine.wait_for(denied.id, lambda e: e.state.current == "PAUSED")
        ran = await anyio.to_thread.run_sync(
            lambda: kestrad("executions", "deny", denied.id, "--config", str(config))
        )
        assert ran.returncode == 0, ran.stderr
        assert (await engine.wait_for(denied.id, timeout=20)).state.current == "CANCELLED"
        again = await anyio.to_thread.run_sync(
            lambda: kestrad("executions", "deny", denied.id, "--config", str(config))
        )
        assert again.returncode != 0 and "CANCELLED" in again.stderr + again.stdout
