"""Run by test_recovery in a subprocess: start an execution on a database file and wait.

The test kills this process with SIGKILL while the execution is in the middle of a Sleep.
"""

from __future__ import annotations

import sys
from pathlib import Path

from kestrad.config import Config
from kestrad.runtime.engine import Engine
from kestrad.runtime.loop import run_async


async def main(url: str, flow_file: str) -> None:
    config = Config()
    config.database.url = url
    async with Engine.open(config=config) as engine:
        flow = await engine.deploy_source(Path(flow_file).read_text(), file=flow_file)
        execution = await engine.create_execution(flow.namespace, flow.id)
        print(execution.id, flush=True)
        await engine.wait_for(execution.id, timeout=600)


if __name__ == "__main__":
    run_async(main, sys.argv[1], sys.argv[2])
