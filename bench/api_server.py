"""A minimal API server for benchmarks: one engine, one uvicorn, one flows folder read once.

`webhook_load.py --inprocess` uses it instead of `kestrad serve`, to measure the engine and
the API without the daemon's other duties (folder watching, scheduler, systemd).

    .venv/bin/python bench/api_server.py --database-url sqlite:///tmp/b.db --flows DIR --port 8080
"""

from __future__ import annotations

import argparse
import contextlib
import logging

import uvicorn

from kestrad.api.app import create_app
from kestrad.runtime.engine import Engine
from kestrad.runtime.loop import run_async


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[override]
        yield  # Ctrl-C / SIGTERM end the process as usual


async def main(args: argparse.Namespace) -> None:
    async with Engine.open(args.database_url) as engine:
        problems = await engine.deploy_directory(args.flows)
        for problem in problems:
            logging.error("%s", problem)
        config = uvicorn.Config(
            create_app(engine),
            host="127.0.0.1",
            port=args.port,
            lifespan="off",
            log_config=None,
            access_log=False,
        )
        await _Server(config).serve()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--flows", required=True)
    parser.add_argument("--port", type=int, required=True)
    run_async(main, parser.parse_args())
