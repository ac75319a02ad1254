"""Executions list at scale: pages and counts with 1 000 000 executions in the store.

A fresh PostgreSQL database (and, with `--sqlite`, a SQLite file) is loaded with N
executions (COPY; executemany on SQLite), every row a real stored execution document of
three task runs (~1.5 kB) spread over 90 days, 50 namespaces x 20 flows, mostly ended.
Then, each N runs, through the store (query + decoding, what the API does before JSON):

- first page: the newest 25 (the API's default page, fetched as 26 to know if more follow);
- keyset page: the 25 after a cursor 90 % deep into the list (`?after=`);
- filtered page: one namespace and state FAILED, first page and 90 % deep;
- flow page: one flow (namespace + flowId), first page;
- count: `count(*)` of everything and of the filtered set (only made when asked);
- offset page: Kestra's `?page=` at the same depth (OFFSET), for contrast, fewer runs;
- HTTP: the first and the keyset page through the API (in-process ASGI, JSON included);
- web UI: server time of each page (executions list, filtered, deep, counts chart, one
  execution, flows, triggers, KV, instances) and of the execution page of an execution with
  1 000 task runs (Gantt and topology tabs), in-process ASGI, HTML included.

Goal: a page under 50 ms at 1 000 000 rows (DESIGN.md §10: keyset pagination, count
only when asked). Kestra's UI pages with OFFSET and counts on every page. Web UI pages:
under 100 ms; the execution page with 1 000 task runs under 300 ms.

    .venv/bin/python bench/list_scale.py [--rows 1000000] [--runs 50] [--url ADMIN_URL]
        [--sqlite] [--keep]

`--url` names a PostgreSQL server's admin database (default: $KESTRAD_TEST_POSTGRES_URL,
else postgresql://postgres@127.0.0.1:5432/postgres); a database of its own is created
and dropped (kept with `--keep`).
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import httpx
from common import ms, percentile, table, write_results

from kestrad.model.execution import Execution, encode_execution, new_task_run
from kestrad.model.state import History, StateInfo
from kestrad.store.cursor import encode_cursor
from kestrad.store.factory import open_store

GOAL_S = 0.050
NAMESPACES = [f"company.team{i:02d}" for i in range(50)]
FLOWS = [f"flow{i:02d}" for i in range(20)]
STATES = ["SUCCESS"] * 85 + ["FAILED"] * 8 + ["WARNING"] * 3 + ["KILLED"] * 2
STATES += ["RUNNING", "CREATED"]
SPAN_S = 90 * 86_400.0
PAGE = 25
COLUMNS = [
    "id",
    "namespace",
    "flow_id",
    "flow_revision",
    "state",
    "start_date",
    "end_date",
    "trigger_execution_id",
    "value",
]
# Placeholders of the template document, replaced per row.
T_ID, T_NS, T_FLOW = b"%ID%", b"%NS%", b"%FLOW%"
T_START, T_END, T_STATE = b"%START%", b"%END%", b"%STATE%"


def template() -> bytes:
    """One stored execution document with three ended task runs, placeholders inside."""
    ns, flow, start, end, state = (t.decode() for t in (T_NS, T_FLOW, T_START, T_END, T_STATE))
    execution = Execution.new(namespace=ns, flow_id=flow, flow_revision=3)
    execution.id = execution.original_id = T_ID.decode()
    execution.inputs = {"customer": "ACME", "batch": 42, "dryRun": False}
    execution.state = StateInfo(current=state, histories=[History(state="CREATED", date=start)])
    execution.state.histories.append(History(state=state, date=end))
    for task in ("extract", "transform", "load"):
        run = new_task_run(execution, task, parent=None, value=None, date=start)
        run.state.histories.append(History(state=state, date=end))
        run.state.current = state
        run.outputs = {"rows": 1234, "uri": f"kestra:///{ns}/{flow}/{task}.ion"}
        execution.task_run_list.append(run)
    return encode_execution(execution)


def iso(seconds: float) -> str:
    """The store's date form (see `now_iso`): microseconds, UTC, `Z`."""
    micros = int(seconds % 1 * 1e6)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}Z"


def rows(count: int, seed: int = 1) -> Iterator[tuple[Any, ...]]:
    """The executions, oldest first, with their document."""
    doc = template()
    rng = random.Random(seed)
    begin = time.time() - SPAN_S
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    for i in range(count):
        start = begin + i * SPAN_S / count
        state = rng.choice(STATES)
        ns, flow = rng.choice(NAMESPACES), rng.choice(FLOWS)
        eid = "".join(rng.choices(alphabet, k=22))
        start_iso, end_iso = iso(start), iso(start + 3.5)
        value = (
            doc.replace(T_ID, eid.encode())
            .replace(T_NS, ns.encode())
            .replace(T_FLOW, flow.encode())
            .replace(T_START, start_iso.encode())
            .replace(T_END, end_iso.encode())
            .replace(T_STATE, state.encode())
        )
        ended = state not in ("RUNNING", "CREATED")
        yield (eid, ns, flow, 3, state, start_iso, end_iso if ended else None, None, value)


def chunks(it: Iterator[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in it:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# -- loading ------------------------------------------------------------------------------------
async def load_postgres(url: str, count: int) -> float:
    store = open_store(url)
    await store.migrate()
    await store.close()
    begun = time.perf_counter()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET synchronous_commit = off")
        for chunk in chunks(rows(count), 100_000):
            await conn.copy_records_to_table("executions", records=chunk, columns=COLUMNS)
        # A live database has been vacuumed and analyzed by autovacuum long before it holds
        # a million rows; do both now rather than wait for it.
        await conn.execute("VACUUM ANALYZE executions")
    finally:
        await conn.close()
    return time.perf_counter() - begun


async def load_sqlite(path: str, count: int) -> float:
    store = open_store(f"sqlite:///{path}")
    await store.migrate()
    await store.close()
    begun = time.perf_counter()
    conn = sqlite3.connect(path)
    try:
        for chunk in chunks(rows(count), 100_000):
            with conn:
                conn.executemany(
                    f"INSERT INTO executions ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * 9)})",
                    chunk,
                )
        conn.execute("ANALYZE")
    finally:
        conn.close()
    return time.perf_counter() - begun


# -- measuring ----------------------------------------------------------------------------------
async def timed(fn: Callable[[], Awaitable[Any]], runs: int) -> list[float]:
    await fn()  # warm: statement cache, buffer cache
    out = []
    for _ in range(runs):
        begun = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - begun)
    return out


async def measure(url: str, count: int, runs: int) -> dict[str, Any]:
    """Every case on one store; {case: {p50, p99, rows}}."""
    from kestrad.api.app import create_app
    from kestrad.config import Config
    from kestrad.model.query import Filter, Op, Query
    from kestrad.runtime.engine import Engine

    deep = int(count * 0.9)
    config = Config()
    config.storage.path = tempfile.mkdtemp(prefix="kestrad-bench-storage-")
    async with Engine.open(url, config=config, roles="") as engine:
        store = engine.store
        newest = await store.search_executions(limit=PAGE + 1)
        # The cursor 90 % deep: the position of the row `deep` places from the top.
        marker = await store.search_executions(limit=1, offset=deep)
        at = (marker[0].state.start_date, marker[0].id)
        ns, flow = newest[0].namespace, newest[0].flow_id
        failed = {"namespace": ns, "state": "FAILED"}
        failed_total = await store.count_executions(**failed)
        failed_marker = await store.search_executions(
            **failed, limit=1, offset=int(failed_total * 0.9)
        )
        failed_at = (failed_marker[0].state.start_date, failed_marker[0].id)
        failed_or_killed = Query(
            filters=[
                Filter(field="namespace", op=Op.EQUALS, value=ns),
                Filter(field="state", op=Op.IN, value=["FAILED", "KILLED"]),
            ]
        )
        prefix = Query(filters=[Filter(field="namespace", op=Op.PREFIX, value=ns.split(".")[0])])
        cases: list[tuple[str, Callable[[], Awaitable[Any]], int]] = [
            ("first page", lambda: store.search_executions(limit=PAGE + 1), runs),
            (
                "keyset page, 90 % deep",
                lambda: store.search_executions(after=at, limit=PAGE + 1),
                runs,
            ),
            (
                "namespace + FAILED, first page",
                lambda: store.search_executions(**failed, limit=PAGE + 1),
                runs,
            ),
            (
                "namespace + FAILED, 90 % deep",
                lambda: store.search_executions(**failed, after=failed_at, limit=PAGE + 1),
                runs,
            ),
            (
                "one flow, first page",
                lambda: store.search_executions(namespace=ns, flow_id=flow, limit=PAGE + 1),
                runs,
            ),
            (
                "filters: namespace + state IN (FAILED, KILLED), first page",
                lambda: store.find_executions(failed_or_killed, now=time.time(), limit=PAGE + 1),
                runs,
            ),
            (
                "filters: namespace PREFIX (sub-namespaces), first page",
                lambda: store.find_executions(prefix, now=time.time(), limit=PAGE + 1),
                runs,
            ),
            (
                "filters: namespace + state IN, count",
                lambda: store.count_found_executions(failed_or_killed, now=time.time()),
                runs,
            ),
            ("count, all", lambda: store.count_executions(), max(runs // 5, 3)),
            ("count, namespace + FAILED", lambda: store.count_executions(**failed), runs),
            (
                "offset page, 90 % deep (Kestra ?page=)",
                lambda: store.search_executions(limit=PAGE + 1, offset=deep),
                max(runs // 10, 3),
            ),
        ]
        results: dict[str, Any] = {}
        for name, fn, n in cases:
            durations = await timed(fn, n)
            results[name] = summary(durations)
            print(f"  {name}: p50 {ms(results[name]['p50'])}", flush=True)
        app = create_app(engine)
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://kestrad") as client:
            cursor = encode_cursor(at)

            async def get(params: dict[str, Any]) -> None:
                response = await client.get("/api/v1/main/executions/search", params=params)
                assert response.status_code == 200, response.text
                assert len(response.json()["results"]) == PAGE

            for name, params in (
                ("HTTP first page", {}),
                ("HTTP keyset page, 90 % deep", {"after": cursor}),
                (
                    "HTTP filters[namespace][EQUALS] + filters[state][IN]",
                    {"filters[namespace][EQUALS]": ns, "filters[state][IN]": "FAILED,KILLED"},
                ),
            ):
                results[name] = summary(await timed(lambda p=params: get(p), runs))
                print(f"  {name}: p50 {ms(results[name]['p50'])}", flush=True)
        results.update(await measure_ui(engine, newest[0], cursor, ns, runs))
    return results


WIDE_FLOW = """
id: wide
namespace: bench.ui
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: "{{ range(1, 1000) }}"
    tasks:
      - id: say
        type: io.kestra.plugin.core.log.Log
        message: "{{ taskrun.value }}"
"""


async def wide_execution(engine: Any, runs: int = 1000) -> str:
    """An ended execution of a ForEach with `runs` task runs (1 parent, the rest its
    iterations), stored as the executor would have left it."""
    flow = await engine.deploy_source(WIDE_FLOW)
    execution = Execution.new(
        namespace=flow.namespace, flow_id=flow.id, flow_revision=flow.revision
    )
    begin = time.time() - 600
    execution.state = StateInfo(
        current="SUCCESS", histories=[History(state="CREATED", date=iso(begin))]
    )
    execution.state.histories.append(History(state="SUCCESS", date=iso(begin + runs * 0.01 + 1)))
    parent = new_task_run(execution, "each", parent=None, value=None, date=iso(begin))
    parent.state.histories.append(History(state="SUCCESS", date=iso(begin + runs * 0.01)))
    parent.state.current = "SUCCESS"
    execution.task_run_list.append(parent)
    for i in range(1, runs):
        start = begin + i * 0.01
        run = new_task_run(execution, "say", parent=parent, value=str(i), date=iso(start))
        run.state.histories.append(History(state="SUCCESS", date=iso(start + 0.008)))
        run.state.current = "SUCCESS"
        execution.task_run_list.append(run)
    await engine.store.create_executions([execution])
    return execution.id


async def measure_ui(
    engine: Any, newest: Execution, cursor: str, ns: str, runs: int
) -> dict[str, Any]:
    """Server time of the web UI's pages: the full response through the ASGI app."""
    from kestrad.api.app import create_app
    from kestrad.ui.routes import ui_routes

    wide = await wide_execution(engine)
    for namespace in NAMESPACES[:5]:  # 100 flows, the flows page's page size
        for flow_id in FLOWS:
            await engine.deploy_source(
                f"id: {flow_id}\nnamespace: {namespace}\ntasks:\n  - id: t\n"
                "    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
            )
    app = create_app(engine, extra_routes=ui_routes(engine))
    transport = httpx.ASGITransport(app)
    results: dict[str, Any] = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://kestrad") as client:

        async def get(path: str) -> None:
            response = await client.get(path)
            assert response.status_code == 200, (path, response.status_code)

        for name, path in (
            ("UI executions list", "/ui/executions"),
            ("UI executions list, 90 % deep", f"/ui/executions?after={cursor}"),
            ("UI executions, namespace + FAILED", f"/ui/executions?namespace={ns}&state=FAILED"),
            ("UI executions, live refresh", "/ui/executions/rows"),
            ("UI counts chart, last 7 days", "/ui/executions/counts"),
            ("UI execution page", f"/ui/executions/{newest.id}"),
            ("UI flows (100, each with its last execution)", "/ui/flows"),
            ("UI triggers", "/ui/triggers"),
            ("UI KV store", "/ui/kv"),
            ("UI instances", "/ui/instances"),
            ("UI execution, 1 000 task runs, Gantt", f"/ui/executions/{wide}?tab=gantt"),
            ("UI execution, 1 000 task runs, topology", f"/ui/executions/{wide}?tab=topology"),
            ("UI execution, 1 000 task runs, live refresh", f"/ui/executions/{wide}/live"),
        ):
            results[name] = summary(await timed(lambda p=path: get(p), runs))
            print(f"  {name}: p50 {ms(results[name]['p50'])}", flush=True)
    return results


def summary(durations: list[float]) -> dict[str, float]:
    return {
        "runs": len(durations),
        "p50": percentile(durations, 0.5),
        "p99": percentile(durations, 0.99),
        "max": max(durations),
    }


async def run_postgres(admin_url: str, count: int, runs: int, keep: bool) -> dict[str, Any]:
    name = f"kestrad_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        print(f"PostgreSQL: loading {count:,} executions into {name}", flush=True)
        load_s = await load_postgres(url, count)
        conn = await asyncpg.connect(url)
        size = await conn.fetchval("SELECT pg_total_relation_size('executions')")
        version = await conn.fetchval("SHOW server_version")
        await conn.close()
        print(f"  loaded in {load_s:.1f} s ({size / 2**20:.0f} MiB with indexes)", flush=True)
        cases = await measure(url, count, runs)
    finally:
        if not keep:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return {
        "backend": "postgres",
        "server": version,
        "load_s": load_s,
        "bytes": size,
        "cases": cases,
    }


async def run_sqlite(count: int, runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kestrad-bench-") as folder:
        path = str(Path(folder) / "list.db")
        print(f"SQLite: loading {count:,} executions", flush=True)
        load_s = await load_sqlite(path, count)
        size = sum(p.stat().st_size for p in Path(folder).iterdir() if p.name.startswith("list.db"))
        print(f"  loaded in {load_s:.1f} s ({size / 2**20:.0f} MiB)", flush=True)
        cases = await measure(f"sqlite:///{path}", count, runs)
    return {
        "backend": "sqlite",
        "server": sqlite3.sqlite_version,
        "load_s": load_s,
        "bytes": size,
        "cases": cases,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument(
        "--url",
        default=os.environ.get(
            "KESTRAD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="a PostgreSQL admin url; the benchmark creates and drops its own database",
    )
    parser.add_argument("--sqlite", action="store_true", help="also measure SQLite")
    parser.add_argument("--no-postgres", action="store_true", help="only SQLite")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    args = parser.parse_args()
    backends = []
    if not args.no_postgres:
        backends.append(anyio.run(run_postgres, args.url, args.rows, args.runs, args.keep))
    if args.sqlite or args.no_postgres:
        backends.append(anyio.run(run_sqlite, args.rows, args.runs))
    print()
    print(f"{args.rows:,} executions, {args.runs} runs per case (goal: a page under {ms(GOAL_S)})")
    for result in backends:
        print()
        print(f"{result['backend']} {result['server']}, loaded in {result['load_s']:.0f} s")
        rows_out = [
            [name, ms(c["p50"]), ms(c["p99"]), ms(c["max"]), c["runs"]]
            for name, c in result["cases"].items()
        ]
        print(table(["case", "p50", "p99", "max", "runs"], rows_out))
    path = write_results(
        "list_scale",
        {
            "goal": "a page under 50 ms at 1 000 000 executions",
            "rows": args.rows,
            "runs": args.runs,
            "page_size": PAGE,
            "results": backends,
        },
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
