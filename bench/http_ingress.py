"""Daemon CPU per HTTP request on the hot routes, with no execution stored.

`webhook_load.py` measures a webhook together with the execution it starts, so the HTTP
layer is a third of its figure and the machine's noise hides changes to it. Here every
request goes through the whole ingress path (parser, routing, auth, limits, the webhook
lookup, body and headers turned into trigger variables, the JSON answer) but stops short
of the store:

- `webhook 204`: a Webhook trigger whose condition is false (the request is read, its
  variables built and the condition evaluated; no execution);
- `webhook 404`: a key no trigger has;
- `create 422`: `POST executions/{namespace}/{id}` without a required input.

Each case sends `--requests` requests over `--connections` keep-alive connections
(`webhook_load.RawClients`) and reports the daemon's CPU (user + system) per request,
the best and the median of `--repeat` rounds: CPU, not wall time, so the figure holds on
a busy machine better than a latency would.

    .venv/bin/python bench/http_ingress.py [--requests 4000] [--repeat 5] [--connections 16]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
from common import cpu_seconds, start_serve, stop_process, table, write_results
from webhook_load import RawClients, free_port

API = "/api/v1/main"
FLOW = """
id: ingress
namespace: bench.http
inputs:
  - id: who
    type: STRING
triggers:
  - id: never
    type: io.kestra.plugin.core.trigger.Webhook
    key: never-fires
    conditions:
      - type: io.kestra.plugin.core.condition.Expression
        expression: "{{ trigger.body == 'go' }}"
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hi
"""
CASES = {
    "webhook 204": (f"{API}/executions/webhook/bench.http/ingress/never-fires", 204),
    "webhook 404": (f"{API}/executions/webhook/bench.http/ingress/no-such-key", 404),
    "create 422": (f"{API}/executions/bench.http/ingress", 422),
}


async def ready(base: str, process: Any, log: Path) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"the daemon exited:\n{log.read_text()[-3000:]}")
            try:
                if (await client.get(f"{API}/flows/bench.http/ingress")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await anyio.sleep(0.1)
    raise SystemExit(f"the daemon did not start within 60 s:\n{log.read_text()[-3000:]}")


async def round_of(
    clients: RawClients, url: str, status: int, count: int, pid: int, connections: int
) -> float:
    """Daemon CPU ms per request over `count` requests, `connections` at a time."""
    queue = iter(range(count))

    async def sender() -> None:
        for _ in queue:
            got, body = await clients.post(url)
            if got != status:
                raise SystemExit(f"{url}: expected {status}, got {got}: {body[:300]!r}")

    before = cpu_seconds(pid)
    await asyncio.gather(*(sender() for _ in range(connections)))
    return (cpu_seconds(pid) - before) * 1000 / count


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kestrad-http-") as tmp:
        workdir = Path(tmp) / "daemon"
        flow = Path(tmp) / "ingress.yml"
        flow.write_text(FLOW)
        port = free_port()
        process = start_serve(workdir, f"sqlite:///{tmp}/kestrad.db", port=port, flow_files=[flow])
        try:
            base = f"http://127.0.0.1:{port}"
            await ready(base, process, workdir / "daemon.log")
            clients = RawClients(base, args.connections)
            results: dict[str, Any] = {}
            for name, (url, status) in CASES.items():
                await round_of(
                    clients, url, status, args.requests // 4, process.pid, args.connections
                )
                rounds = [
                    await round_of(
                        clients, url, status, args.requests, process.pid, args.connections
                    )
                    for _ in range(args.repeat)
                ]
                results[name] = {
                    "rounds_ms": rounds,
                    "best_ms": min(rounds),
                    "median_ms": statistics.median(rounds),
                }
                print(f"{name}: " + " ".join(f"{r:.3f}" for r in rounds))
            await clients.aclose()
        finally:
            stop_process(process)
    return {
        "requests": args.requests,
        "repeat": args.repeat,
        "connections": args.connections,
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000, help="requests per round")
    parser.add_argument("--repeat", type=int, default=5, help="measured rounds per case")
    parser.add_argument("--connections", type=int, default=16, help="client connections")
    parser.add_argument("--output", default="http_ingress", help="results file name")
    args = parser.parse_args()
    data = anyio.run(bench, args)
    rows = [
        [name, f"{r['best_ms']:.3f}", f"{r['median_ms']:.3f}"]
        for name, r in data["results"].items()
    ]
    print("\ndaemon CPU per request (ms):")
    print(table(["case", "best", "median"], rows))
    print(f"\nwrote {write_results(args.output, data)}")


if __name__ == "__main__":
    main()
