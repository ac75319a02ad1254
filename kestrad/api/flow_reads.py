"""Reads of flows Kestra's clients make besides get and search: the flows of a namespace,
the distinct namespaces, a flow's revisions, one of its tasks, its graph and its
dependencies; and the flow of an execution (`executions/{id}/flow`, `…/graph`,
`executions/flows/{ns}/{id}`, `executions/namespaces[/{ns}/flows]`).
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kestrad.api.context import api
from kestrad.api.errors import ApiError
from kestrad.api.flows import flow_json, invalid_flow, problem_json
from kestrad.api.params import check_params, query_int, read_json, read_text
from kestrad.api.responses import json_response
from kestrad.flows.graph import flow_graph
from kestrad.flows.loader import FlowLoadError, load_flow
from kestrad.flows.yaml_source import parse_yaml
from kestrad.model.query import Filter, Op, Query
from kestrad.runtime.engine import Engine
from kestrad.runtime.flow_search import dependencies, live_rows, namespaces_of


async def _latest(engine: Engine, namespace: str, flow_id: str) -> Any:
    row = engine.flows.latest_row(namespace, flow_id) or await engine.store.get_flow(
        namespace, flow_id
    )
    if row is None or row.deleted:
        raise ApiError(404, "Flow not found", namespace=namespace, flowId=flow_id)
    return row


async def _revision(request: Request, namespace: str, flow_id: str) -> Any:
    engine = api(request).engine
    row = await _latest(engine, namespace, flow_id)
    revision = query_int(request, "revision", 0, low=1, high=2**31) or None
    if revision is not None and revision != row.revision:
        row = await engine.store.get_flow(namespace, flow_id, revision)
        if row is None:
            raise ApiError(404, "Flow revision not found", namespace=namespace, flowId=flow_id)
    return row


def _path(request: Request) -> tuple[str, str]:
    return request.path_params["namespace"], request.path_params["id"]


async def by_namespace(request: Request) -> Response:
    """Every flow of exactly this namespace (Kestra's `GET flows/{namespace}`)."""
    check_params(request, set())
    ctx = api(request)
    namespace = request.path_params["namespace"]
    rows = [r for r in live_rows(ctx.engine.flows.rows()) if r.namespace == namespace]
    return json_response([flow_json(r) for r in sorted(rows, key=lambda r: r.id)])


async def distinct_namespaces(request: Request) -> Response:
    check_params(request, {"q"})
    ctx = api(request)
    text = (request.query_params.get("q") or "").lower()
    found = [n for n in namespaces_of(ctx.engine.flows.rows()) if text in n.lower()]
    return json_response(found)


async def file_problems(request: Request) -> Response:
    """Flows-folder files that do not load now, with their problems (file:line:col).

    A broken file keeps its flow's last good revision running, so the flow itself looks
    fine: this is where the file's current faults are. `flow` is the flow the file still
    serves (namespace and id), or null for a file that never loaded. Read from the store:
    any process answers the same, whichever syncs the folder.
    """
    check_params(request, set())
    engine = api(request).engine
    found = await engine.file_problems.current()
    served = {r.file: r for r in engine.flows.rows() if r.file and not r.deleted}
    out = []
    for path, problems in sorted(found.items()):
        row = served.get(path)
        flow = {"namespace": row.namespace, "id": row.id, "revision": row.revision} if row else None
        out.append({"file": path, "flow": flow, "problems": [problem_json(p) for p in problems]})
    return json_response(out)


async def revisions(request: Request) -> Response:
    """Every revision of a flow, oldest first, each with its source."""
    check_params(request, {"allowDelete"})
    ctx = api(request)
    namespace, flow_id = _path(request)
    latest = await _latest(ctx.engine, namespace, flow_id)
    out = []
    for number in range(1, latest.revision + 1):
        row = await ctx.engine.store.get_flow(namespace, flow_id, number)
        if row is not None:
            out.append(flow_json(row, source=True))
    return json_response(out)


async def task(request: Request) -> Response:
    """One task of the flow, as written (found anywhere in its tree)."""
    check_params(request, {"revision"})
    namespace, flow_id = _path(request)
    row = await _revision(request, namespace, flow_id)
    wanted = request.path_params["task_id"]
    data, _, _ = parse_yaml(row.source)
    found = _find_task(data, wanted)
    if found is None:
        raise ApiError(404, f"No task `{wanted}` in flow {namespace}/{flow_id}")
    return json_response(found)


def _find_task(data: Any, task_id: str) -> dict[str, Any] | None:
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("id") == task_id and "type" in item:
                return item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


async def graph(request: Request) -> Response:
    check_params(request, {"revision", "subflows"})
    namespace, flow_id = _path(request)
    row = await _revision(request, namespace, flow_id)
    return json_response(flow_graph(api(request).engine.flows.parse(row)))


async def flow_dependencies(request: Request) -> Response:
    """The flows this one calls as subflows, those that call it, and their links."""
    check_params(request, {"destinationOnly", "expandAll"})
    ctx = api(request)
    namespace, flow_id = _path(request)
    await _latest(ctx.engine, namespace, flow_id)
    return json_response(dependencies(ctx.engine.flows, namespace, flow_id))


# -- flows seen from executions ------------------------------------------------------------
async def _execution(request: Request) -> Any:
    ctx = api(request)
    execution_id = request.path_params["execution_id"]
    execution = await ctx.engine.get_execution(execution_id)
    if execution is None:
        raise ApiError(404, "Execution not found", executionId=execution_id)
    return execution


async def execution_flow(request: Request) -> Response:
    """The flow revision an execution ran."""
    check_params(request, set())
    execution = await _execution(request)
    row = await api(request).engine.store.get_flow(
        execution.namespace, execution.flow_id, execution.flow_revision
    )
    if row is None:
        raise ApiError(404, "Flow not found", namespace=execution.namespace)
    return json_response(flow_json(row))


async def execution_graph(request: Request) -> Response:
    check_params(request, {"subflows"})
    execution = await _execution(request)
    engine = api(request).engine
    flow = await engine.flows.fetch(execution.namespace, execution.flow_id, execution.flow_revision)
    if flow is None:
        raise ApiError(404, "Flow not found", namespace=execution.namespace)
    return json_response(flow_graph(flow))


async def flow_for_execution(request: Request) -> Response:
    check_params(request, {"revision"})
    namespace, flow_id = _path(request)
    return json_response(flow_json(await _revision(request, namespace, flow_id)))


async def executable_namespaces(request: Request) -> Response:
    check_params(request, set())
    rows = [r for r in live_rows(api(request).engine.flows.rows()) if not r.disabled]
    return json_response(namespaces_of(rows))


async def executable_flows(request: Request) -> Response:
    check_params(request, set())
    namespace = request.path_params["namespace"]
    rows = live_rows(api(request).engine.flows.rows())
    chosen = [r for r in rows if r.namespace == namespace and not r.disabled]
    return json_response([flow_json(r) for r in sorted(chosen, key=lambda r: r.id)])


async def graph_from_source(request: Request) -> Response:
    """The graph of a flow sent as YAML (an editor drawing what is being typed)."""
    check_params(request, {"subflows"})
    source = await read_text(request)
    try:
        flow = load_flow(source)
    except FlowLoadError as exc:
        raise invalid_flow(exc) from None
    return json_response(flow_graph(flow))


async def namespace_dependencies(request: Request) -> Response:
    """Subflow links of every flow of a namespace (and the flows they reach)."""
    check_params(request, {"destinationOnly"})
    ctx = api(request)
    namespace = request.path_params["namespace"]
    nodes: dict[str, dict[str, str]] = {}
    edges: dict[tuple[str, str], dict[str, str]] = {}
    for row in live_rows(ctx.engine.flows.rows()):
        if row.namespace != namespace:
            continue
        found = dependencies(ctx.engine.flows, row.namespace, row.id)
        nodes.update({n["uid"]: n for n in found["nodes"]})
        edges.update({(e["source"], e["target"]): e for e in found["edges"]})
    return json_response({"nodes": list(nodes.values()), "edges": list(edges.values())})


async def latest_executions(request: Request) -> Response:
    """`[{namespace, id}, …]` → the last execution of each flow that has one."""
    check_params(request, set())
    ctx = api(request)
    body = await read_json(request)
    if not isinstance(body, list) or len(body) > 1000:
        raise ApiError(400, 'The body must be a JSON list of {"namespace": …, "id": …}')
    out = []
    for item in body:
        if not isinstance(item, dict) or not all(
            isinstance(item.get(k), str) for k in ("namespace", "id")
        ):
            raise ApiError(400, f'Invalid flow {item!r}: expected {{"namespace": …, "id": …}}')
        query = Query(
            filters=[
                Filter(field="namespace", op=Op.EQUALS, value=item["namespace"]),
                Filter(field="flowId", op=Op.EQUALS, value=item["id"]),
            ]
        )
        found = await ctx.engine.store.find_executions(query, now=time.time(), limit=1)
        for execution in found:
            out.append(
                {
                    "id": execution.id,
                    "namespace": execution.namespace,
                    "flowId": execution.flow_id,
                    "startDate": execution.state.start_date,
                    "status": execution.state.current,
                }
            )
    return json_response(out)
