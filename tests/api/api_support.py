"""The API over a real engine: an in-process client for quick checks, uvicorn for the rest.

`served(app)` runs uvicorn on a free port inside the test's own event loop, as the daemon
embeds it, so SSE and webhooks are tested over a real socket and a real HTTP parser.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import uvicorn

from kestrad.api.app import create_app
from kestrad.config import Config
from kestrad.runtime.engine import Engine

HELLO = """
id: hello
namespace: tests.api
labels:
  team: data
inputs:
  - id: name
    type: STRING
  - id: count
    type: INT
    defaults: 2
tasks:
  - id: greet
    type: io.kestra.plugin.core.log.Log
    message: "Hello {{ inputs.name }} x{{ inputs.count }}"
  - id: out
    type: io.kestra.plugin.core.output.OutputValues
    values:
      greeting: "Hello {{ inputs.name }}"
outputs:
  - id: greeting
    type: STRING
    value: "{{ outputs.out.values.greeting }}"
"""

OTHER = """
id: other
namespace: tests.other
tasks:
  - id: hi
    type: io.kestra.plugin.core.log.Log
    message: hi
"""

SLEEPY = """
id: sleepy
namespace: tests.api
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT30S
"""

PAUSED = """
id: paused
namespace: tests.api
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: resumed
"""

LEVELS = """
id: levels
namespace: tests.api
tasks:
  - id: quiet
    type: io.kestra.plugin.core.log.Log
    level: DEBUG
    message: a debug line
  - id: loud
    type: io.kestra.plugin.core.log.Log
    level: WARN
    message: a warning
  - id: last
    type: io.kestra.plugin.core.log.Log
    message: an info line
"""

WEBHOOK = """
id: hooked
namespace: tests.api
inputs:
  - id: who
    type: STRING
    defaults: nobody
triggers:
  - id: plain
    type: io.kestra.plugin.core.trigger.Webhook
    key: "{{ flow.id }}-secret"
  - id: picky
    type: io.kestra.plugin.core.trigger.Webhook
    key: picky
    conditions:
      - type: io.kestra.plugin.core.condition.Expression
        expression: "{{ trigger.body.go == true }}"
  - id: off
    type: io.kestra.plugin.core.trigger.Webhook
    key: off
    disabled: true
tasks:
  - id: show
    type: io.kestra.plugin.core.log.Log
    message: "body={{ trigger.body | json }} who={{ inputs.who }}"
"""

FLOWS = [HELLO, OTHER, SLEEPY, PAUSED, LEVELS, WEBHOOK]


def chatty_flow(tasks: int, lines: int, pause: str = "PT0.05S") -> str:
    """A flow logging `tasks * lines` distinct lines, in bursts separated by short sleeps."""
    out = ["id: chatty", "namespace: tests.api", "tasks:"]
    for t in range(tasks):
        out += [f"  - id: burst{t}", "    type: io.kestra.plugin.core.log.Log", "    message:"]
        out += [f"      - 'burst {t} line {i}'" for i in range(lines)]
        out += [
            f"  - id: nap{t}",
            "    type: io.kestra.plugin.core.flow.Sleep",
            f"    duration: {pause}",
        ]
    return "\n".join(out) + "\n"


@contextlib.asynccontextmanager
async def running_engine(*sources: str, config: Config | None = None) -> AsyncIterator[Engine]:
    async with Engine.open(config=config) as engine:
        for source in sources or FLOWS:
            await engine.deploy_source(source)
        yield engine


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the test runner (like the daemon) owns them."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[override]
        yield


@contextlib.asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1:<free port> in this event loop; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_config=None,
        lifespan="off",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    server = _EmbeddedServer(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve, [sock])
        with anyio.fail_after(10):
            while not server.started:
                await anyio.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
    sock.close()


@contextlib.asynccontextmanager
async def api_client(engine: Engine, **options: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client (no socket) for the quick checks."""
    app = create_app(engine, **options)
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://kestrad") as client:
        client.app = app  # type: ignore[attr-defined]
        yield client


@contextlib.asynccontextmanager
async def http_client(engine: Engine, **options: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client talking to uvicorn over TCP."""
    app = create_app(engine, **options)
    async with served(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        client.app = app  # type: ignore[attr-defined]
        yield client


async def sse_events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """Parse a text/event-stream body into events: {event, id, data, comment}."""
    current: dict[str, Any] = {}
    async for line in response.aiter_lines():
        if line == "":
            if current:
                yield current
                current = {}
            continue
        if line.startswith(":"):
            yield {"comment": line[1:].strip()}
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            current["data"] = current.get("data", "") + value
        elif name in ("event", "id"):
            current[name] = value
    if current:
        yield current
