"""Every query that runs in a loop has an index behind it, checked on PostgreSQL's plans.

A database is filled with enough rows that the planner prefers an index only where one
fits (20 000 executions, queue messages on both topics, 100 000 log lines, 20 000
triggers, 20 000 flow revisions; COPY, then ANALYZE), and each hot query, read from queries.sql by name so the
test checks the real SQL, is EXPLAINed with realistic parameters. No plan may read a big
table sequentially; the list, log and claim queries may not sort more than a handful of
rows (their index must give the ORDER BY, DESIGN.md §10), and a list page may not read a
row its index could have told it to skip (an index Filter). A plan that fails names the
query and shows the plan. A second test checks the list queries' plans on SQLite.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from kestrad.store.queries import queries
from kestrad.store.rows import LOG_PURGE_BATCH, SEARCH_FILTERS
from tests.conftest import postgres_database, require_postgres

pytestmark = pytest.mark.anyio

BIG_TABLES = {"executions", "queue_execution", "queue_worker", "logs", "triggers", "flows"}
EXECUTIONS = 20_000
QUEUED = 20_000
LOG_LINES = 100_000
TRIGGERS = 20_000
FLOW_REVISIONS = 20_000
NAMESPACES = [f"company.team{i}" for i in range(20)]
FLOWS = [f"flow{i}" for i in range(5)]
# Mostly ended, as a long-lived database is; the rare states are the interesting filters.
STATES = ["SUCCESS"] * 85 + ["FAILED"] * 8 + ["RUNNING"] * 4 + ["QUEUED"] * 2 + ["CREATED"]
TERMINAL = ["SUCCESS", "FAILED", "WARNING", "KILLED", "CANCELLED"]
NOW = 1_800_000_000.0
Q = queries("postgres")


def iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(seconds))


class Data:
    """What was loaded, for picking realistic parameters."""

    def __init__(self) -> None:
        rng = random.Random(7)
        self.executions: list[tuple[Any, ...]] = []
        for i in range(EXECUTIONS):
            start = NOW - 30 * 86_400 + i * (30 * 86_400 / EXECUTIONS)
            state = rng.choice(STATES)
            end = iso(start + 5) if state in TERMINAL else None
            n = rng.randrange(len(NAMESPACES))
            namespace, flow = NAMESPACES[n], f"{rng.choice(FLOWS)}_{n % 7}"
            row = (f"x{i:07d}{rng.randrange(16**6):06x}", namespace, flow, 1, state, iso(start))
            self.executions.append((*row, end, None, b"\x00" * 600))
        self.running = [r[0] for r in self.executions if r[4] in ("RUNNING", "CREATED")]
        self.instances = [f"instance-{i}" for i in range(10)]

    def queue_rows(self, claimed: bool) -> Iterator[tuple[Any, ...]]:
        rng = random.Random(11)
        for i in range(QUEUED):
            due = NOW - 60 + i * 0.01 if i % 10 else NOW + 3600  # a tenth are delayed timers
            owner = rng.choice(self.instances) if claimed and i % 3 == 0 else None
            key = rng.choice(self.running)
            yield (key, b"\x00" * 80, due, owner, NOW - 5 if owner else None)

    def log_rows(self) -> Iterator[tuple[Any, ...]]:
        rng = random.Random(13)
        for i in range(LOG_LINES):
            e = self.executions[rng.randrange(EXECUTIONS)]
            stamp = iso(NOW - 30 * 86_400 + i * (30 * 86_400 / LOG_LINES))
            yield (e[0], e[1], e[2], "task", "run", 1, "INFO", stamp, f"line {i}")

    def trigger_rows(self) -> Iterator[tuple[Any, ...]]:
        for i in range(TRIGGERS):
            updated = NOW - 86_400 + i * (86_400 / TRIGGERS)
            ns, flow = NAMESPACES[i % len(NAMESPACES)], f"flow{i}"
            yield (ns, flow, "schedule", NOW + i, None, False, None, "fp", updated, None)

    def flow_rows(self) -> Iterator[tuple[Any, ...]]:
        for i in range(FLOW_REVISIONS):
            updated = iso(NOW - 30 * 86_400 + i * (30 * 86_400 / FLOW_REVISIONS))
            ns, flow, revision = NAMESPACES[i % len(NAMESPACES)], f"flow{i // 4}", i % 4 + 1
            yield (ns, flow, revision, "id: x\n" * 20, f"h{i}", None, False, False, updated)


async def fill(conn: asyncpg.Connection, data: Data) -> None:
    await conn.copy_records_to_table(
        "executions",
        records=data.executions,
        columns=[
            "id",
            "namespace",
            "flow_id",
            "flow_revision",
            "state",
            "start_date",
            "end_date",
            "trigger_execution_id",
            "value",
        ],
    )
    queue_columns = ["key", "payload", "available_at", "claimed_by", "claimed_at"]
    for table, claimed in (("queue_execution", False), ("queue_worker", True)):
        rows = list(data.queue_rows(claimed))
        await conn.copy_records_to_table(table, records=rows, columns=queue_columns)
    log_columns = ["execution_id", "namespace", "flow_id", "task_id", "task_run_id", "attempt"]
    log_columns += ["level", "timestamp", "message"]
    await conn.copy_records_to_table("logs", records=data.log_rows(), columns=log_columns)
    trigger_columns = ["namespace", "flow_id", "trigger_id", "next_fire_at", "execution_id"]
    trigger_columns += ["disabled", "backfill", "fingerprint", "updated", "last_fire_at"]
    await conn.copy_records_to_table(
        "triggers", records=data.trigger_rows(), columns=trigger_columns
    )
    flow_columns = ["namespace", "id", "revision", "source", "hash", "file", "disabled"]
    flow_columns += ["deleted", "updated"]
    await conn.copy_records_to_table("flows", records=data.flow_rows(), columns=flow_columns)
    await conn.executemany(
        "INSERT INTO service_instance (id, host, pid, roles, started, heartbeat, state)"
        " VALUES ($1, 'host', 1, 'executor,worker', $2, $2, 'RUNNING')",
        [(iid, NOW - i) for i, iid in enumerate(data.instances)],
    )
    await conn.execute("VACUUM ANALYZE")  # as autovacuum leaves a long-lived database


def hot_queries(data: Data, seqs: dict[str, int]) -> list[tuple[str, str, tuple[Any, ...]]]:
    """(label, query name, parameters) of every query that runs in a loop."""
    some = [r[0] for r in data.executions[::200]]
    middle = data.executions[EXECUTIONS // 2]
    ns, flow = middle[1], middle[2]
    horizon = seqs["high"] + 1  # nothing in flight
    out: list[tuple[str, str, tuple[Any, ...]]] = [
        # The executor's and the worker's loops.
        ("executor claim", "queue_execution_poll", (NOW, 100)),
        ("executor next due", "queue_execution_next_due", ()),
        ("executor consumed", "queue_execution_delete", ([1, 2, 3],)),
        ("executor reads", "execution_get_many", (some[:100],)),
        ("ended: queue by key", "queue_execution_delete_keys", (some[:10],)),
        ("ended: jobs by key", "queue_worker_delete_keys", (some[:10],)),
        ("concurrency counts", "execution_running_counts", ([ns], [flow])),
        ("concurrency queued", "execution_queued_ids", ([ns], [flow], [10])),
        (
            "trigger lock release",
            "trigger_release_lock",
            ([ns], ["flow1"], ["schedule"], [some[0]]),
        ),
        ("subflow children", "execution_by_trigger", (some[0],)),
        ("worker claim", "queue_worker_claim", ("instance-0", NOW, 100)),
        ("worker done", "queue_worker_delete", ([1, 2, 3],)),
        # Liveness.
        ("heartbeat", "instance_heartbeat", (NOW, "instance-0")),
        ("disconnect silent", "instance_disconnect_silent", (NOW - 45, "instance-0")),
        ("disconnected: their jobs", "queue_worker_held_by_gone", ()),
        ("hand out jobs", "queue_worker_release_seqs", ([1, 2, 3],)),
        # The monitor and the scheduler.
        ("triggers updated", "trigger_updated_since", (NOW - 5,)),
        # Every process's flow follower (runtime/flow_follow.py), twice a second.
        ("flows changed", "flow_changes_since", (iso(NOW - 60),)),
        ("execution briefs", "execution_states_of", (some[:100],)),
        # Logs: the SSE follow of one execution, `kestrad logs -f`, retention batches.
        ("log tail of one", "log_list", (some[0], 0, 10_000, horizon)),
        ("log tail of one, later", "log_list", (some[0], seqs["high"] - 50, 10_000, horizon)),
        (
            "log follow all",
            "log_search_after",
            (seqs["high"] - 50, None, None, None, None, 1000, horizon),
        ),
        (
            "log follow one",
            "log_search_after",
            (seqs["high"] - 50, some[0], None, None, None, 1000, horizon),
        ),
        ("log latest", "log_search_latest", (None, None, None, None, 100, horizon)),
        (
            "log retention batch",
            "log_purge",
            (iso(NOW - 27 * 86_400), None, None, None, None, None, LOG_PURGE_BATCH),
        ),
    ]
    # execution.Count (a maintenance task, often on a schedule): every filter combination.
    day, month = iso(NOW - 86_400), iso(NOW - 30 * 86_400)
    flows = ([ns, NAMESPACES[3]], [flow, "flow2_3"])
    failed = ["FAILED", "WARNING"]
    out += [
        ("count flows", "execution_flow_counts_flows", (month, None, *flows)),
        ("count flows states", "execution_flow_counts_flows_states", (month, None, *flows, failed)),
        ("count namespaces", "execution_flow_counts_namespaces", (month, None, [ns])),
        (
            "count namespaces states",
            "execution_flow_counts_namespaces_states",
            (month, None, [ns], failed),
        ),
        ("count all, last day", "execution_flow_counts_all", (day, None)),
        ("count states, last day", "execution_flow_counts_states", (day, None, failed)),
    ]
    # The executions list: first page and a keyset page deep in it, every filter combination.
    given = {"namespace": ns, "flow_id": flow, "state": "FAILED"}
    deep = (middle[5], middle[0])
    for variant, names in SEARCH_FILTERS.items():
        filters = tuple(given[n] for n in names)
        name = f"execution_search_{variant}"
        out.append((f"list {variant}, first page", name, (*filters, "~", "", 26, 0)))
        out.append((f"list {variant}, keyset page", name, (*filters, *deep, 26, 0)))
    return out


# Queries whose ORDER BY must come from the index: no sort of more rows than SORT_ROWS
# (sorting the handful of rows a narrow filter matches costs less than walking an index).
NO_SORT = ("list ", "executor claim", "worker claim", "log ")
SORT_ROWS = 1_000
# execution.Count by flows or namespaces: answered from an index alone, no table row read.
INDEX_ONLY = ("count flows", "count namespaces")
# List queries must match every filter in their index (no row read only to be dropped),
# but for the state of a flow id given without its namespace, checked on that flow's rows.
STATE_FILTER_ALLOWED = "list flow_id"


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def problems(label: str, plan: dict[str, Any]) -> list[str]:
    found = []
    for node in nodes(plan):
        kind, table = node["Node Type"], node.get("Relation Name")
        if kind == "Seq Scan" and table in BIG_TABLES:
            found.append(f"Seq Scan on {table}")
        if label.startswith("list ") and table == "executions" and "Filter" in node:
            only_state = "flow_id" not in node["Filter"] and "namespace" not in node["Filter"]
            if not (label.startswith(STATE_FILTER_ALLOWED) and only_state):
                found.append(f"{kind} on {table} filters {node['Filter']}")
        if label.startswith(INDEX_ONLY) and table == "executions":
            if kind != "Index Only Scan":
                found.append(f"{kind} on {table}, not an Index Only Scan")
            if "Filter" in node:
                found.append(f"{kind} on {table} filters {node['Filter']}")
        if kind in ("Sort", "Incremental Sort") and label.startswith(NO_SORT):
            rows = node["Plans"][0]["Plan Rows"]
            if rows > SORT_ROWS:
                found.append(f"{kind} of {rows} rows ({', '.join(node.get('Sort Key', []))})")
    return found


async def test_hot_queries_use_indexes() -> None:
    require_postgres()
    data = Data()
    async with postgres_database() as url:
        from kestrad.store.factory import open_store

        store = open_store(url)
        await store.migrate()
        await store.close()
        conn = await asyncpg.connect(url)
        try:
            await fill(conn, data)
            low, high = await conn.fetchrow("SELECT min(seq), max(seq) FROM logs")
            failures = []
            for label, name, args in hot_queries(data, {"low": low, "high": high}):
                text = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {Q[name]}", *args)
                plan = json.loads(text)[0]["Plan"]
                found = problems(label, plan)
                if found:
                    failures.append(f"{label} ({name}): {'; '.join(found)}\n{_outline(plan)}")
        finally:
            await conn.close()
    assert not failures, "\n\n".join(failures)


def _outline(plan: dict[str, Any], depth: int = 0) -> str:
    """The plan as indented node lines, enough to see which scan went wrong."""
    what = plan["Node Type"]
    if "Relation Name" in plan:
        what += f" on {plan['Relation Name']}"
    if "Index Name" in plan:
        what += f" using {plan['Index Name']}"
    lines = ["  " * depth + what]
    lines += [_outline(child, depth + 1) for child in plan.get("Plans", [])]
    return "\n".join(lines)


async def test_sqlite_list_pages_search_their_own_index(tmp_path: Any) -> None:
    """The same list queries on SQLite (the default store): each filter combination is a
    SEARCH on its index, in index order (no temporary B-tree for the ORDER BY)."""
    import sqlite3

    from kestrad.store.factory import open_store

    path = tmp_path / "explain.db"
    store = open_store(f"sqlite:///{path}")
    await store.migrate()
    await store.close()
    data = Data()
    conn = sqlite3.connect(path)
    try:
        conn.executemany("INSERT INTO executions VALUES (?,?,?,?,?,?,?,?,?,'{}')", data.executions)
        conn.commit()
        conn.execute("ANALYZE")
        middle = data.executions[EXECUTIONS // 2]
        given = {"namespace": middle[1], "flow_id": middle[2], "state": "FAILED"}
        sqlite_q = queries("sqlite")
        failures = []
        for variant in SEARCH_FILTERS:
            for after_date, after_id in (("~", ""), (middle[5], middle[0])):
                filters = tuple(given[name] for name in SEARCH_FILTERS[variant])
                params = (*filters, after_date, after_id, 26, 0)
                sql = "EXPLAIN QUERY PLAN " + sqlite_q[f"execution_search_{variant}"]
                steps = [r[3] for r in conn.execute(sql, params)]
                if len(steps) != 1 or not steps[0].startswith("SEARCH executions USING INDEX"):
                    failures.append(f"{variant} after {after_date!r}: {steps}")
    finally:
        conn.close()
    assert not failures, "\n".join(failures)


async def test_sqlite_list_parameters_search_an_index(tmp_path: Any) -> None:
    """A list parameter is JSON text in SQLite, read with `json_each`: each value must be
    an index lookup into the big table, never a scan of it (the executor loads its whole
    batch with one `execution_get_many`)."""
    import sqlite3

    from kestrad.store.factory import open_store

    path = tmp_path / "explain.db"
    store = open_store(f"sqlite:///{path}")
    await store.migrate()
    await store.close()
    sqlite_q = queries("sqlite")
    ids = json.dumps(["a", "b"])
    lists = {
        "execution_get_many": (ids,),
        "execution_states_of": (ids,),
        "execution_delete": (ids,),
        "log_delete_executions": (ids,),
        "queue_worker_release_seqs": (json.dumps([1, 2]),),
    }
    conn = sqlite3.connect(path)
    try:
        failures = []
        for name, params in lists.items():
            steps = [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sqlite_q[name], params)]
            scans = [s for s in steps if s.startswith("SCAN") and "VIRTUAL TABLE" not in s]
            if scans or not any(s.startswith("SEARCH") for s in steps):
                failures.append(f"{name}: {steps}")
    finally:
        conn.close()
    assert not failures, "\n".join(failures)
