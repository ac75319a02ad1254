"""Open-loop load on the webhook of benchmark01: latency against a fixed request rate.

Open loop means request i leaves at t0 + i/rate whatever happened to the earlier ones, so
a slow server cannot slow the generator down and hide its own queueing (a closed loop
would). Each rate gets a warm-up, then a measured window; the executions are read back
from the API afterwards and measured from their own state histories:

- start → end: the execution's first to last state change (the figure Kestra publishes);
- request → end: from the moment the request was due to the execution's end date;
- HTTP: from the moment the request was due to its response.

The daemon is `kestrad serve` in a subprocess (SQLite in a temporary folder), or with
`--inprocess` the bare engine + API of `bench/api_server.py`. Its idle RSS is read from
/proc before any load. Goal: 500 executions/s with p99 (start → end) under 250 ms on 2
cores; Kestra's best published figure is 2 500 executions/min under 1 s on 8 vCPUs.

    .venv/bin/python bench/webhook_load.py [--rates 50,100,200,500] [--duration 10] [--warmup 3]
        [--client httpx|raw] [--inprocess] [--synchronous FULL|NORMAL]
        [--database-url URL|postgres] [--daemons N] [--processes N] [--output NAME]

`--processes N` runs each daemon as N processes (`server.processes`): CPU is then the
sum over each daemon's processes.

`--database-url postgres` runs on a fresh PostgreSQL database (dropped afterwards), and
`--daemons N` starts N `kestrad serve` on it, each with its own port and flows folder, and
sends the requests to them in turn; CPU is then the daemons' sum, and the PostgreSQL
backends serving the database are measured too. The goal there: 200 executions/s with p99
(start → end) under 300 ms on one daemon.

On a 2-core machine the generator competes with the daemon for the same cores: each row
reports the CPU both used, and `--client raw` (a bare keep-alive client) keeps the
generator's share small enough that the daemon, not the generator, sets the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
from common import (
    BENCH_DIR,
    backend_of,
    cpu_seconds,
    database,
    flow_ref,
    flows_dir,
    loadavg,
    ms,
    percentile,
    postgres_backends,
    start_serve,
    state_duration,
    stop_process,
    table,
    tree_cpu_seconds,
    write_results,
)

FLOW_FILE = "benchmark01-simple.yml"
GOAL = "500 executions/s with p99 (start to end) under 250 ms, 2 cores, SQLite"
GOAL_POSTGRES = (
    "200 executions/s with p99 (start to end) under 300 ms on one daemon, 2 cores, PostgreSQL"
)
KESTRA_FIGURE = "2 500 executions/min under 1 s average on 8 vCPUs (4 000/min with Kafka)"
API = "/api/v1/main"
ACTIVE_STATES = ("CREATED", "RUNNING")


# -- the daemon ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def webhook_key(source: str) -> str:
    from ruamel.yaml import YAML

    for trigger in YAML(typ="safe").load(source).get("triggers") or []:
        if str(trigger.get("type", "")).endswith("trigger.Webhook"):
            return str(trigger["key"])
    raise SystemExit(f"{FLOW_FILE} has no Webhook trigger")


def start_daemon(
    workdir: Path,
    flow_file: Path,
    port: int,
    inprocess: bool,
    synchronous: str,
    database_url: str | None = None,
    processes: int = 1,
) -> subprocess.Popen:
    """One daemon in `workdir` (its config, flows folder and log); `database_url` None:
    SQLite in the parent folder. Several daemons share the parent's `storage` folder."""
    database = database_url or f"sqlite:///{workdir.parent}/kestrad.db"
    if not inprocess:
        storage = None if backend_of(database) == "sqlite" else workdir.parent / "storage"
        return start_serve(
            workdir,
            database,
            port=port,
            flow_files=[flow_file],
            synchronous=synchronous,
            storage=storage,
            processes=processes,
        )
    flows = workdir / "flows"
    flows.mkdir(parents=True)
    shutil.copy(flow_file, flows / flow_file.name)
    command = [sys.executable, str(BENCH_DIR / "api_server.py"), "--database-url", database]
    command += ["--flows", str(flows), "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
    log = (workdir / "daemon.log").open("wb")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)


async def wait_ready(
    client: httpx.AsyncClient, process: subprocess.Popen, flow: str, log: Path
) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(
                f"the daemon exited ({process.returncode}):\n{log.read_text()[-3000:]}"
            )
        try:
            if (await client.get(f"{API}/flows/{flow}")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await anyio.sleep(0.1)
    raise SystemExit(f"the daemon did not serve {flow} within 60 s:\n{log.read_text()[-3000:]}")


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return math.nan


# -- the load -----------------------------------------------------------------------------------
class Clients:
    """Several small httpx pools instead of one big one.

    httpcore scans its whole pool (quadratically, for idle connections) on every request,
    which at a few hundred connections costs the generator more CPU than the server
    spends answering. Each pool stays at `SHARD` connections, and a semaphore keeps the
    requests waiting for a connection out of httpcore's queue. A request still counts its
    wait from the moment it was due, so queueing shows in the latency, as it should.
    """

    SHARD = 16

    def __init__(self, base_url: str, connections: int) -> None:
        shards = max(1, connections // self.SHARD)
        limits = httpx.Limits(max_connections=self.SHARD, max_keepalive_connections=self.SHARD)
        self.clients = [
            httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) for _ in range(shards)
        ]
        self.gates = [anyio.Semaphore(self.SHARD) for _ in range(shards)]
        self.api = self.clients[0]
        self._next = 0

    async def post(self, url: str) -> tuple[int, bytes]:
        index = self._next = (self._next + 1) % len(self.clients)
        async with self.gates[index]:
            response = await self.clients[index].post(url)
            return response.status_code, response.content

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


class RawClients:
    """A bare HTTP/1.1 keep-alive client for the load itself (`--client raw`).

    On a small machine the generator shares the cores with the daemon, and httpx spends
    several times the CPU per request that this does; past a few hundred requests per
    second the generator, not the daemon, would set the limit.
    """

    def __init__(self, base_url: str, connections: int) -> None:
        self.host, port = base_url.removeprefix("http://").split(":")
        self.port = int(port)
        self.gate = anyio.Semaphore(connections)
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, url: str) -> tuple[int, bytes]:
        async with self.gate:
            if self.idle:
                reader, writer = self.idle.pop()
                try:
                    return await self._exchange(reader, writer, url)
                except (OSError, asyncio.IncompleteReadError):
                    pass  # the server closed it while idle (keep-alive timeout): reconnect
            reader, writer = await asyncio.open_connection(self.host, self.port)
            return await self._exchange(reader, writer, url)

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, url: str
    ) -> tuple[int, bytes]:
        try:
            request = f"POST {url} HTTP/1.1\r\nhost: {self.host}\r\ncontent-length: 0\r\n\r\n"
            writer.write(request.encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length, close = 0, False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection":
                    close = value.strip().lower() == b"close"
            body = await reader.readexactly(length) if length else b""
        except BaseException:
            writer.close()
            raise
        if close:
            writer.close()
        else:
            self.idle.append((reader, writer))
        return status, body

    async def aclose(self) -> None:
        for _, writer in self.idle:
            writer.close()


class RoundRobin:
    """Requests spread in turn over one client per daemon (`--daemons N`)."""

    def __init__(self, clients: list[Any]) -> None:
        self.clients = clients
        self._next = -1

    async def post(self, url: str) -> tuple[int, bytes]:
        self._next = (self._next + 1) % len(self.clients)
        return await self.clients[self._next].post(url)

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


async def _one(clients: Any, url: str, due: float, wall: float, out: list) -> None:
    try:
        status, body = await clients.post(url)
        execution_id = json.loads(body).get("id") if status == 200 else None
    except (httpx.HTTPError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
        status, execution_id = type(exc).__name__, None
    out.append(
        {"due": wall, "http": time.perf_counter() - due, "status": status, "id": execution_id}
    )


async def open_loop(
    clients: Any, url: str, rate: float, seconds: float
) -> tuple[list[dict[str, Any]], float]:
    """Fire `rate * seconds` requests on schedule; (samples, wall time until the last answer)."""
    samples: list[dict[str, Any]] = []
    count = int(rate * seconds)
    start, wall = time.perf_counter(), time.time()
    async with anyio.create_task_group() as tg:
        for i in range(count):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await anyio.sleep(delay)
            tg.start_soon(_one, clients, url, due, wall + i / rate, samples)
    return samples, time.perf_counter() - start


async def search(client: httpx.AsyncClient, params: dict[str, Any]) -> dict[str, Any]:
    """One page of the execution search; retried for 60 s while the API fails (a database
    outage answers 503 or 500 until the daemon reconnects)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            response = await client.get(f"{API}/executions/search", params=params)
            if response.status_code == 200:
                return response.json()
            problem = f"HTTP {response.status_code}"
        except httpx.TransportError as exc:
            problem = type(exc).__name__
        if time.monotonic() > deadline:
            raise RuntimeError(f"execution search still failing after 60 s: {problem}")
        await anyio.sleep(1.0)


async def count_active(client: httpx.AsyncClient, namespace: str, flow_id: str) -> int:
    total = 0
    for state in ACTIVE_STATES:
        params = {"namespace": namespace, "flowId": flow_id, "state": state, "count": "true"}
        total += (await search(client, {**params, "size": 1}))["total"]
    return total


async def drain(client: httpx.AsyncClient, namespace: str, flow_id: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while await count_active(client, namespace, flow_id):
        if time.monotonic() > deadline:
            print(f"  warning: executions still running after {timeout:.0f} s")
            return
        await anyio.sleep(0.5)


async def read_executions(
    client: httpx.AsyncClient, namespace: str, flow_id: str
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    after = None
    while True:
        params: dict[str, Any] = {"namespace": namespace, "flowId": flow_id, "size": 1000}
        if after:
            params["after"] = after
        page = await search(client, params)
        out.update({e["id"]: e for e in page["results"]})
        after = page["next"]
        if after is None:
            return out


def _instant(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def measure(
    rate: float, samples: list[dict[str, Any]], wall: float, executions: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    ok = [s for s in samples if s["id"] in executions]
    runs = [executions[s["id"]] for s in ok]
    engine = [d for d in (state_duration(e) for e in runs) if d is not None]
    to_end = [
        _instant(e["state"]["histories"][-1]["date"]) - s["due"]
        for s, e in zip(ok, runs, strict=True)
        if e["state"].get("endDate")
    ]
    http = [s["http"] for s in samples if s["status"] == 200]
    ends = [_instant(e["state"]["endDate"]) for e in runs if e["state"].get("endDate")]
    starts = [_instant(e["state"]["startDate"]) for e in runs]
    errors: dict[str, int] = {}
    for sample in samples:
        if sample["status"] != 200:
            errors[str(sample["status"])] = errors.get(str(sample["status"]), 0) + 1
    states: dict[str, int] = {}
    for e in runs:
        states[e["state"]["current"]] = states.get(e["state"]["current"], 0) + 1

    def stats(values: list[float]) -> dict[str, float]:
        return {
            "p50": percentile(values, 0.5),
            "p99": percentile(values, 0.99),
            "max": max(values) if values else math.nan,
            "mean": sum(values) / len(values) if values else math.nan,
        }

    span = (max(ends) - min(starts)) if ends and starts else math.nan
    return {
        "rate": rate,
        "requests": len(samples),
        "errors": len(samples) - len(http),
        "error_kinds": errors,
        "executions": len(runs),
        "states": states,
        "achieved_rate": len(http) / wall if wall > 0 else math.nan,
        "completed_rate": len(ends) / span if span and span > 0 else math.nan,
        "start_to_end": stats(engine),
        "request_to_end": stats(to_end),
        "http": stats(http),
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    async with database(args.database_url) as url:
        return await bench_on(args, url)


async def bench_on(args: argparse.Namespace, url: str | None) -> dict[str, Any]:
    flow_file = Path(args.flows) / FLOW_FILE
    source = flow_file.read_text()
    namespace, flow_id = flow_ref(source)
    key = webhook_key(source)
    ports = [free_port() for _ in range(args.daemons)]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    hook = f"{API}/executions/webhook/{namespace}/{flow_id}/{key}"
    workdir = Path(tempfile.mkdtemp(prefix="kestrad-bench-"))
    processes: list[subprocess.Popen] = []
    apis = [Clients(base, Clients.SHARD) for base in bases]
    client = apis[0].api
    each = max(1, args.connections // args.daemons)
    kind = RawClients if args.client == "raw" else Clients
    clients = RoundRobin([kind(base, each) for base in bases])
    results: list[dict[str, Any]] = []
    try:
        for index, port in enumerate(ports):
            processes.append(
                start_daemon(
                    workdir / f"daemon{index + 1}",
                    flow_file,
                    port,
                    args.inprocess,
                    args.synchronous,
                    url,
                    args.processes,
                )
            )
            # One at a time: the first migrates a fresh database alone.
            await wait_ready(
                apis[index].api,
                processes[-1],
                f"{namespace}/{flow_id}",
                workdir / f"daemon{index + 1}" / "daemon.log",
            )
        await anyio.sleep(args.idle)
        idle_rss = [rss_mb(process.pid) for process in processes]
        pids = ", ".join(str(process.pid) for process in processes)
        rss = ", ".join(f"{value:.1f}" for value in idle_rss)
        print(f"daemon pid {pids}: idle RSS {rss} MB")
        for rate in args.rates:
            load = loadavg()
            print(f"rate {rate:g}/s: warm-up {args.warmup:g} s, measure {args.duration:g} s")
            await open_loop(clients, hook, rate, args.warmup)
            await drain(client, namespace, flow_id, args.drain)
            backends, server_start = [], None
            if backend_of(url) == "postgresql":
                backends, server_start = await postgres_backends(url)
            cpu, started = time.process_time(), time.time()
            daemon_cpu = [tree_cpu_seconds(process.pid) for process in processes]
            database_cpu = {pid: cpu_seconds(pid) for pid in backends}
            samples, wall = await open_loop(clients, hook, rate, args.duration)
            generator_cpu = (time.process_time() - cpu) / wall
            await drain(client, namespace, flow_id, args.drain)
            daemon_cpu = [
                tree_cpu_seconds(process.pid) - before
                for process, before in zip(processes, daemon_cpu, strict=True)
            ]
            if backend_of(url) == "postgresql":
                # Backends opened meanwhile count from zero; closed ones are lost (pools
                # keep theirs, so few are).
                after, server_now = await postgres_backends(url)
                database_cpu = {pid: cpu_seconds(pid) - database_cpu.get(pid, 0.0) for pid in after}
            daemon_wall = time.time() - started
            executions = await read_executions(client, namespace, flow_id)
            results.append(measure(rate, samples, wall, executions))
            result = results[-1]
            result["loadavg_before"] = load
            if backend_of(url) == "postgresql" and server_now != server_start:
                result["postgres_restarted"] = True
                print(f"  WARNING: the PostgreSQL server restarted during this rate ({server_now})")
            result["generator_cpu"] = round(generator_cpu, 3)
            result["daemon_cpu"] = round(sum(daemon_cpu) / daemon_wall, 3)
            result["daemon_cpu_ms_per_execution"] = round(
                1000 * sum(daemon_cpu) / max(result["executions"], 1), 2
            )
            line = (
                f"  {len(samples)} requests, {result['errors']} errors "
                f"{result['error_kinds'] or ''}; CPU: generator "
                f"{generator_cpu:.0%} of a core, daemon{'s' if len(processes) > 1 else ''} "
                f"{result['daemon_cpu']:.0%} "
                f"({result['daemon_cpu_ms_per_execution']:.2f} ms per execution)"
            )
            if len(processes) > 1:
                result["daemon_cpu_each"] = [round(c / daemon_wall, 3) for c in daemon_cpu]
                line += " [" + ", ".join(f"{c:.0%}" for c in result["daemon_cpu_each"]) + "]"
            if backend_of(url) == "postgresql":
                total = sum(database_cpu.values())
                result["postgres_cpu"] = round(total / daemon_wall, 3)
                result["postgres_cpu_ms_per_execution"] = round(
                    1000 * total / max(result["executions"], 1), 2
                )
                line += (
                    f", PostgreSQL backends {result['postgres_cpu']:.0%} "
                    f"({result['postgres_cpu_ms_per_execution']:.2f} ms per execution)"
                )
            print(line)
        peak_rss = [rss_mb(process.pid, "VmHWM") for process in processes]
    finally:
        await clients.aclose()
        for api in apis:
            await api.aclose()
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            stop_process(process, signal=False)
        problems = daemon_problems(workdir, len(processes))
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    data: dict[str, Any] = {
        "flow": FLOW_FILE,
        "mode": "inprocess" if args.inprocess else "kestrad serve",
        "backend": backend_of(url),
        "database_url": args.database_url,
        "daemons": args.daemons,
        "processes": args.processes,
        "warmup_seconds": args.warmup,
        "duration_seconds": args.duration,
        "connections": args.connections,
        "client": args.client,
        "synchronous": args.synchronous if backend_of(url) == "sqlite" else None,
        "idle_rss_mb": round(idle_rss[0], 1),
        "peak_rss_mb": round(peak_rss[0], 1),
        "goal": GOAL if backend_of(url) == "sqlite" else GOAL_POSTGRES,
        "kestra": KESTRA_FIGURE,
        "results": results,
    }
    if args.daemons > 1:
        data["idle_rss_mb_each"] = [round(value, 1) for value in idle_rss]
        data["peak_rss_mb_each"] = [round(value, 1) for value in peak_rss]
    if problems:
        data["daemon_log_problems"] = problems
    return data


def daemon_problems(workdir: Path, count: int, keep: int = 20) -> dict[str, list[str]]:
    """WARNING and worse lines of each daemon's log (the first `keep`), to show with the
    figures: a retry storm or a refused flow explains a latency tail."""
    found: dict[str, list[str]] = {}
    for index in range(count):
        log = workdir / f"daemon{index + 1}" / "daemon.log"
        try:
            lines = log.read_text(errors="replace").splitlines()
        except OSError:
            continue
        bad = [line for line in lines if any(w in line for w in ("WARNING", "ERROR", "Trace"))]
        if bad:
            found[f"daemon{index + 1}"] = bad[:keep] + (
                [f"... {len(bad) - keep} more"] if len(bad) > keep else []
            )
    return found


def report(data: dict[str, Any]) -> None:
    rows = [
        [
            f"{r['rate']:g}",
            r["executions"],
            ms(r["start_to_end"]["p50"]),
            ms(r["start_to_end"]["p99"]),
            ms(r["start_to_end"]["max"]),
            f"{r['achieved_rate']:.1f}/s",
        ]
        for r in data["results"]
    ]
    where = f"{data['mode']}, {data.get('backend', 'sqlite')}"
    if data.get("daemons", 1) > 1:
        where += f", {data['daemons']} daemons round-robin"
    if data.get("processes", 1) != 1:
        where += f", {data['processes']} processes per daemon"
    print(f"\n{data['flow']} via webhook ({where}), start to end of each execution:")
    print(table(["rate/s", "executions", "p50", "p99", "max", "achieved rate"], rows))
    rows = [
        [
            f"{r['rate']:g}",
            ms(r["request_to_end"]["p50"]),
            ms(r["request_to_end"]["p99"]),
            ms(r["request_to_end"]["max"]),
            ms(r["http"]["p50"]),
            ms(r["http"]["p99"]),
            f"{r['completed_rate']:.1f}/s",
            r["errors"],
        ]
        for r in data["results"]
    ]
    print("\nrequest to end, and the webhook's own response time:")
    headers = ["rate/s", "req→end p50", "req→end p99", "req→end max", "http p50", "http p99"]
    print(table([*headers, "completed", "errors"], rows))
    rows = [
        [
            f"{r['rate']:g}",
            f"{r['generator_cpu']:.0%}",
            f"{r['daemon_cpu']:.0%}",
            f"{r['daemon_cpu_ms_per_execution']:.2f}",
            f"{r['postgres_cpu']:.0%}" if "postgres_cpu" in r else "-",
            f"{r['postgres_cpu_ms_per_execution']:.2f}" if "postgres_cpu" in r else "-",
        ]
        for r in data["results"]
    ]
    print("\nCPU (share of one core; daemons summed):")
    headers = ["rate/s", "generator", "daemon", "daemon ms/exec", "PostgreSQL", "PG ms/exec"]
    print(table(headers, rows))
    print(f"\nidle RSS {data['idle_rss_mb']} MB, peak RSS {data['peak_rss_mb']} MB")
    print(f"goal: {data['goal']}; Kestra: {data['kestra']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rates",
        type=lambda text: [float(x) for x in text.split(",") if x.strip()],
        default=[50.0, 100.0, 200.0, 500.0],
        help="comma-separated request rates per second",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per rate")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per rate")
    parser.add_argument("--idle", type=float, default=2.0, help="seconds idle before RSS")
    parser.add_argument("--drain", type=float, default=300.0, help="max wait for the backlog")
    parser.add_argument("--connections", type=int, default=128, help="client connections")
    parser.add_argument("--flows", default=str(flows_dir()), help="benchmark flows folder")
    parser.add_argument(
        "--inprocess", action="store_true", help="bench/api_server.py instead of kestrad serve"
    )
    parser.add_argument(
        "--synchronous",
        default="FULL",
        choices=["FULL", "NORMAL"],
        help="SQLite synchronous mode of the daemon (kestrad serve only)",
    )
    parser.add_argument(
        "--client",
        default="httpx",
        choices=["httpx", "raw"],
        help="load client: httpx pools, or a bare keep-alive client using less CPU",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="default: a temporary SQLite file; `postgres`: a fresh database on "
        "postgresql://postgres@127.0.0.1:5432, dropped afterwards",
    )
    parser.add_argument(
        "--daemons",
        type=int,
        default=1,
        help="kestrad serve processes on the same database (N > 1 needs PostgreSQL); "
        "requests go to them in turn",
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="processes per daemon (server.processes)"
    )
    parser.add_argument(
        "--output", help="results file name (default: webhook_load[_raw][_<backend>_<N>d])"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    backend = backend_of(args.database_url)
    if args.daemons < 1:
        parser.error("--daemons must be at least 1")
    if args.daemons > 1 and backend != "postgresql":
        parser.error("--daemons N > 1 needs --database-url postgres (or a postgresql:// url)")
    if args.processes != 1 and args.inprocess:
        parser.error("--processes runs kestrad serve; leave out --inprocess")
    if args.daemons > 1 and args.inprocess:
        parser.error("--daemons N > 1 runs kestrad serve; leave out --inprocess")
    data = anyio.run(bench, args)
    report(data)
    name = "webhook_load" if args.client == "httpx" else f"webhook_load_{args.client}"
    if backend != "sqlite" or args.daemons > 1:
        name += f"_{backend}_{args.daemons}d"
    if args.processes != 1:
        name += f"_{args.processes}p"
    name = args.output or name
    print(f"\nwrote {write_results(name, data)}")


if __name__ == "__main__":
    main()
