"""Flows as YAML: create, get, update, delete, search, validate.

The YAML text is the flow (comments and layout included), so it is what we take and give
back; JSON is only a summary. A flow that does not validate is refused with every problem
and its line:col at once, as the loader reports them.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kestrad.api.context import api
from kestrad.api.errors import ApiError
from kestrad.api.params import check_params, query_flag, query_int, read_text
from kestrad.api.responses import json_response
from kestrad.flows.documents import split_documents
from kestrad.flows.loader import FlowLoadError, Problem, load_flow, load_warnings
from kestrad.flows.yaml_source import parse_yaml
from kestrad.model.flow import Flow
from kestrad.runtime.engine import Engine
from kestrad.runtime.flow_search import folder_file

YAML_MEDIA_TYPE = "application/x-yaml"


def problem_json(problem: Problem, line_offset: int = 0) -> dict[str, Any]:
    line = problem.line + line_offset if problem.line else problem.line
    return {
        "line": line,
        "column": problem.column,
        "path": problem.path,
        "message": problem.message,
        "text": f"{line}:{problem.column}: "
        + (f"{problem.path}: " if problem.path else "")
        + problem.message,
    }


def invalid_flow(exc: FlowLoadError) -> ApiError:
    problems = [problem_json(p) for p in exc.problems]
    return ApiError(
        422, "Invalid flow:\n" + "\n".join(p["text"] for p in problems), problems=problems
    )


def summary(flow: Flow, row: Any | None = None) -> dict[str, Any]:
    """What a client needs to list or identify a flow, without its whole task tree."""
    return {
        "id": flow.id,
        "namespace": flow.namespace,
        "revision": row.revision if row is not None else flow.revision,
        "description": flow.description,
        "labels": [{"key": k, "value": str(v)} for k, v in (flow.labels or {}).items()],
        "inputs": [{"id": i.id, "type": i.type, "required": i.required} for i in flow.inputs or ()],
        "tasks": [{"id": t.id, "type": t.type} for t in flow.tasks or ()],
        "triggers": [{"id": t.id, "type": t.type} for t in flow.triggers or ()],
        "disabled": bool(flow.disabled or (row is not None and row.disabled)),
        "deleted": bool(row is not None and row.deleted),
    }


def flow_json(row: Any, *, source: bool = False) -> dict[str, Any]:
    """Kestra's Flow JSON: the document as written (full task and trigger objects, Kestra's
    type names), labels as a list, with its revision and flags; `source` is the YAML."""
    data, _, _ = parse_yaml(row.source)
    doc: dict[str, Any] = dict(data) if isinstance(data, dict) else {}
    labels = doc.get("labels")
    if isinstance(labels, dict):
        doc["labels"] = [{"key": str(k), "value": str(v)} for k, v in labels.items()]
    doc.update(
        id=row.id,
        namespace=row.namespace,
        revision=row.revision,
        disabled=bool(row.disabled or doc.get("disabled")),
        deleted=bool(row.deleted),
    )
    if source:
        doc["source"] = row.source
    return doc


def wants_yaml(request: Request) -> bool:
    """The YAML text only for a client that asks for it (Accept: application/x-yaml)."""
    accept = request.headers.get("accept", "")
    return "yaml" in accept and "json" not in accept


def read_only(request: Request, row: Any, action: str) -> None:
    """A flow of the watched folder is changed there, not through the API: 409 naming it."""
    file = folder_file(row, api(request).config.flows.path)
    if file is not None:
        raise ApiError(
            409,
            f"Flow {row.namespace}/{row.id} comes from the file {file} of the flows folder: "
            f"{action} the file instead (the folder is the source of truth)",
            namespace=row.namespace,
            flowId=row.id,
            file=file,
        )


def _parse(source: str) -> Any:
    try:
        return load_flow(source)
    except FlowLoadError as exc:
        raise invalid_flow(exc) from None


async def _yaml_body(request: Request) -> str:
    source = await read_text(request)
    if not source.strip():
        raise ApiError(422, "Invalid flow: the body is empty; send the flow's YAML")
    return source


async def _deploy(request: Request, source: str) -> Response:
    ctx = api(request)
    try:
        flow = await ctx.engine.deploy_source(source)
    except FlowLoadError as exc:
        raise invalid_flow(exc) from None
    row = ctx.engine.flows.latest_row(flow.namespace, flow.id)
    if row is not None:
        ctx.engine.flow_saved(row)
    return json_response(flow_json(row, source=True) if row is not None else summary(flow))


async def create(request: Request) -> Response:
    ctx = api(request)
    source = await _yaml_body(request)
    flow = _parse(source)
    row = ctx.engine.flows.latest_row(flow.namespace, flow.id)
    if row is None:
        row = await ctx.engine.store.get_flow(flow.namespace, flow.id)
    read_only(request, row, "edit")
    if row is not None and not row.deleted:
        raise ApiError(
            409,
            f"Flow {flow.namespace}/{flow.id} already exists: update it with PUT",
            namespace=flow.namespace,
            flowId=flow.id,
        )
    return await _deploy(request, source)


async def update(request: Request) -> Response:
    ctx = api(request)
    namespace, flow_id = request.path_params["namespace"], request.path_params["id"]
    source = await _yaml_body(request)
    flow = _parse(source)
    if (flow.namespace, flow.id) != (namespace, flow_id):
        raise ApiError(
            422,
            f"The flow's namespace and id ({flow.namespace}/{flow.id}) must match the path "
            f"({namespace}/{flow_id})",
        )
    row = await _row(ctx.engine, namespace, flow_id)
    if row is None or row.deleted:
        raise ApiError(404, "Flow not found", namespace=namespace, flowId=flow_id)
    read_only(request, row, "edit")
    return await _deploy(request, source)


async def _row(engine: Engine, namespace: str, flow_id: str) -> Any:
    row = engine.flows.latest_row(namespace, flow_id)
    if row is None:
        row = await engine.store.get_flow(namespace, flow_id)
    return row


async def get(request: Request) -> Response:
    """Kestra's Flow JSON (`?source=true` adds the YAML); the YAML itself for a client that
    asks for it with `Accept: application/x-yaml`."""
    check_params(request, {"source", "revision", "allowDeleted"})
    ctx = api(request)
    namespace, flow_id = request.path_params["namespace"], request.path_params["id"]
    revision = query_int(request, "revision", 0, low=1, high=2**31) or None
    row = await _row(ctx.engine, namespace, flow_id)
    allow_deleted = query_flag(request, "allowDeleted")
    if row is None or (row.deleted and not allow_deleted):
        raise ApiError(404, "Flow not found", namespace=namespace, flowId=flow_id)
    if revision is not None and revision != row.revision:
        row = await ctx.engine.store.get_flow(namespace, flow_id, revision)
        if row is None:
            raise ApiError(404, "Flow revision not found", namespace=namespace, flowId=flow_id)
    if wants_yaml(request):
        return Response(row.source, media_type=YAML_MEDIA_TYPE)
    return json_response(flow_json(row, source=query_flag(request, "source")))


async def delete(request: Request) -> Response:
    ctx = api(request)
    namespace, flow_id = request.path_params["namespace"], request.path_params["id"]
    read_only(request, await _row(ctx.engine, namespace, flow_id), "remove")
    if not await ctx.engine.delete_flow(namespace, flow_id):
        raise ApiError(404, "Flow not found", namespace=namespace, flowId=flow_id)
    return Response(status_code=204)


async def search(request: Request) -> Response:
    """Flows by namespace (prefix, as Kestra) and a free-text `q` on id/namespace."""
    ctx = api(request)
    query = request.query_params
    namespace = query.get("namespace") or ""
    text = (query.get("q") or "").lower()
    page = query_int(request, "page", 1, low=1, high=1_000_000)
    size = query_int(request, "size", 25, low=1, high=1000)
    rows = [
        row
        for row in ctx.engine.flows.rows()
        if not row.deleted
        and _in_namespace(row.namespace, namespace)
        and (not text or text in row.id.lower() or text in row.namespace.lower())
    ]
    rows.sort(key=lambda r: (r.namespace, r.id))
    chosen = rows[(page - 1) * size : page * size]
    results = [summary(ctx.engine.flows.parse(row), row) for row in chosen]
    return json_response({"results": results, "total": len(rows)})


def _in_namespace(candidate: str, wanted: str) -> bool:
    return not wanted or candidate == wanted or candidate.startswith(wanted + ".")


async def validate(request: Request) -> Response:
    """One entry per YAML document: its flow id and every problem (none when valid)."""
    source = await read_text(request)
    out = []
    for index, (offset, document) in enumerate(split_documents(source)):
        entry: dict[str, Any] = {"index": index, "namespace": None, "flow": None}
        try:
            flow = load_flow(document)
        except FlowLoadError as exc:
            problems = [problem_json(p, offset) for p in exc.problems]
            entry["constraints"] = "\n".join(p["text"] for p in problems)
            entry["problems"] = problems
            warnings = exc.warnings
        else:
            entry.update(namespace=flow.namespace, flow=flow.id, constraints=None, problems=[])
            warnings = load_warnings(flow)
        # Kestra's `warnings`: deprecated names and the like, which do not refuse the flow.
        entry["warnings"] = [problem_json(w, offset)["text"] for w in warnings]
        out.append(entry)
    return json_response(out)
