"""SECRET inputs: stored encrypted, decrypted for the task that renders them, and masked
(`******`) in every log line that task writes (Kestra's InputsTest#shouldNotLogSecretInput
and #inputFlow `secret.value`), on both stores."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from tasks_support import all_logs, run_of

from kestrad.config import Config
from kestrad.runtime.engine import Engine

pytestmark = pytest.mark.anyio

KEY = base64.b64encode(b"k" * 32).decode()
FLOW = """
id: secrets
namespace: company.team
inputs:
  - id: secret
    type: SECRET
  - id: nested.key
    type: SECRET
    defaults: hunter2
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "These are my secrets: {{ inputs.nested.key }} - {{ inputs.secret }}"
  - id: shell
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - echo "in a script {{ inputs.secret }}"
      - echo "and on stderr {{ inputs.nested.key }}" >&2
    warningOnStdErr: false
  - id: value
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.secret }}"
"""


async def test_secret_inputs_are_masked_in_logs_and_decrypted_for_tasks(
    database_url: str, tmp_path: Path
) -> None:
    config = Config()
    config.storage.path = str(tmp_path / "storage")
    async with Engine.open(database_url, config=config, secret_key=KEY) as engine:
        flow = await engine.deploy_source(FLOW)
        created = await engine.create_execution(
            flow.namespace, flow.id, {"secret": "correct horse"}
        )
        await engine.wait_for(created.id, timeout=60)
        execution = await engine.store.get_execution(created.id)
        logs = await all_logs(engine, created.id)

    assert execution.state.current == "SUCCESS"
    lines = {(e.task_id, e.message) for e in logs}
    assert ("log", "These are my secrets: ****** - ******") in lines
    assert ("shell", "in a script ******") in lines
    assert ("shell", "and on stderr ******") in lines
    assert not any("correct horse" in e.message or "hunter2" in e.message for e in logs)
    # The task sees the plain value; the execution keeps the encrypted one.
    assert run_of(execution, "value").outputs == {"value": "correct horse"}
    stored = execution.inputs["secret"]
    assert stored != "correct horse" and "correct horse" not in str(execution.inputs)
