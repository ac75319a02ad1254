"""Flows in bulk: export as a zip (by ids, by query), import a zip or a YAML file, enable,
disable and delete by ids or by query, and create-or-update several flows from one
multi-document YAML (`flows/bulk`, `flows/{namespace}`).

A flow of the watched folder is never changed here: by ids it is a 409 naming its file
(nothing done), by query it is left out. Deployments go through the engine, so triggers
reach the scheduler at once.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from kestrad.api.context import api
from kestrad.api.errors import ApiError
from kestrad.api.flows import flow_json, invalid_flow, read_only
from kestrad.api.params import check_params, query_flag, read_json, read_text
from kestrad.api.query_filters import parse_filters
from kestrad.api.responses import json_response
from kestrad.flows.documents import split_documents
from kestrad.flows.loader import FlowLoadError, load_flow
from kestrad.model.query import Resource
from kestrad.runtime.engine import Engine
from kestrad.runtime.flow_search import folder_file, live_rows, select_flows
from kestrad.store.filters import UnsupportedFilter
from kestrad.store.records import FlowRow

MAX_FLOWS = 10_000
MAX_ZIP_ENTRIES = 10_000
MAX_FLOW_BYTES = 1024 * 1024  # one flow file, uncompressed (a zip bomb stops here)


def _ids(body: Any) -> list[tuple[str, str]]:
    if not isinstance(body, list) or len(body) > MAX_FLOWS:
        raise ApiError(400, 'The body must be a JSON list of {"namespace": …, "id": …}')
    out = []
    for item in body:
        if not isinstance(item, dict) or not all(
            isinstance(item.get(k), str) and item[k] for k in ("namespace", "id")
        ):
            raise ApiError(400, f'Invalid flow id {item!r}: expected {{"namespace": …, "id": …}}')
        out.append((item["namespace"], item["id"]))
    return out


def _rows_by_ids(request: Request, ids: list[tuple[str, str]], writing: bool) -> list[FlowRow]:
    engine = api(request).engine
    rows, missing = [], []
    for namespace, flow_id in ids:
        row = engine.flows.latest_row(namespace, flow_id)
        if row is None or row.deleted:
            missing.append(f"{namespace}/{flow_id}")
            continue
        if writing:
            read_only(request, row, "change")
        rows.append(row)
    if missing:
        raise ApiError(404, "Flows not found: " + ", ".join(missing), flows=missing)
    return rows


def _rows_by_query(request: Request, extra: set[str] | None = None) -> list[FlowRow]:
    check_params(request, extra or set())
    query = parse_filters(request.query_params.multi_items(), Resource.FLOW)
    if query.empty():
        raise ApiError(400, "A bulk action by query needs at least one filter")
    try:
        return select_flows(api(request).engine.flows, query)
    except UnsupportedFilter as exc:
        raise ApiError(400, f"Invalid query filters: {exc}") from None


async def _apply(engine: Engine, rows: list[FlowRow], action: str) -> int:
    for row in rows:
        if action == "delete":
            await engine.delete_flow(row.namespace, row.id)
        else:
            await engine.set_flow_disabled(row, action == "disable")
    return len(rows)


def _action(request: Request) -> str:
    action = request.path_params["action"]
    if action not in ("enable", "disable", "delete"):
        raise ApiError(404, "no such route")
    return action


async def by_ids(request: Request) -> Response:
    check_params(request, set())
    engine = api(request).engine
    action = _action(request)
    rows = _rows_by_ids(request, _ids(await read_json(request)), writing=True)
    return json_response({"count": await _apply(engine, rows, action)})


async def by_query(request: Request) -> Response:
    action = _action(request)
    folder = api(request).config.flows.path
    rows = [r for r in _rows_by_query(request) if folder_file(r, folder) is None]
    return json_response({"count": await _apply(api(request).engine, rows, action)})


def _zip(rows: list[FlowRow]) -> Response:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for row in rows:
            archive.writestr(f"{row.namespace}.{row.id}.yml", row.source)
    return Response(
        buffer.getvalue(),
        media_type="application/octet-stream",
        headers={"Content-Disposition": 'attachment; filename="flows.zip"'},
    )


async def export_by_ids(request: Request) -> Response:
    check_params(request, set())
    return _zip(_rows_by_ids(request, _ids(await read_json(request)), writing=False))


async def export_by_query(request: Request) -> Response:
    return _zip(_rows_by_query(request))


async def _deploy(engine: Engine, source: str, name: str, folder: str) -> str | None:
    """Deploy one flow; the reason it was refused (naming `name`), or None."""
    try:
        flow = load_flow(source)
    except FlowLoadError as exc:
        return f"{name}: " + "; ".join(str(p) for p in exc.problems)
    file = folder_file(engine.flows.latest_row(flow.namespace, flow.id), folder)
    if file is not None:
        return f"{name}: {flow.namespace}/{flow.id} comes from the file {file}"
    try:
        await engine.deploy_source(source)
    except FlowLoadError as exc:
        return f"{name}: " + "; ".join(str(p) for p in exc.problems)
    saved = engine.flows.latest_row(flow.namespace, flow.id)
    if saved is not None:
        engine.flow_saved(saved)
    return None


async def import_flows(request: Request) -> Response:
    """A zip of flow files or one YAML file (multipart `fileUpload`, or `fileContent`);
    the refused ones, each with its reason."""
    check_params(request, {"failOnError"})
    ctx = api(request)
    form = await request.form(max_files=1, max_fields=10, max_part_size=ctx.body_limit)
    part = form.get("fileUpload") or form.get("fileContent")
    if not isinstance(part, UploadFile):
        await form.close()
        raise ApiError(400, "Send the file as the multipart part `fileUpload`")
    name, data = part.filename or "flows", await part.read()
    await form.close()
    sources = _sources(name, data)
    if query_flag(request, "failOnError"):
        problems = [
            f"{label}: {'; '.join(str(p) for p in exc.problems)}"
            for label, text in sources
            for exc in _load_error(text)
        ]
        if problems:
            raise ApiError(422, "Invalid flows:\n" + "\n".join(problems), problems=problems)
    folder = ctx.config.flows.path
    refused = [
        reason
        for label, text in sources
        if (reason := await _deploy(ctx.engine, text, label, folder))
    ]
    return json_response(refused)


def _load_error(text: str) -> list[FlowLoadError]:
    try:
        load_flow(text)
    except FlowLoadError as exc:
        return [exc]
    return []


def _sources(name: str, data: bytes) -> list[tuple[str, str]]:
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = [i for i in archive.infolist() if not i.is_dir()]
            if len(entries) > MAX_ZIP_ENTRIES:
                raise ApiError(400, f"At most {MAX_ZIP_ENTRIES} files per import")
            out = []
            for info in entries:
                if not info.filename.endswith((".yml", ".yaml")):
                    continue
                if info.file_size > MAX_FLOW_BYTES:
                    raise ApiError(
                        400, f"{info.filename} is over {MAX_FLOW_BYTES} bytes uncompressed"
                    )
                with archive.open(info) as handle:
                    data = handle.read(MAX_FLOW_BYTES + 1)
                if len(data) > MAX_FLOW_BYTES:  # a header that lied about the size
                    raise ApiError(400, f"{info.filename} is over {MAX_FLOW_BYTES} bytes")
                out.append((info.filename, _text(data, info.filename)))
            return out
    return [(f"{name}#{i}", text) for i, (_, text) in enumerate(split_documents(_text(data, name)))]


def _text(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, f"{name} is not UTF-8 text") from None


async def bulk_update(request: Request) -> Response:
    """Several flows from one multi-document YAML, each created or updated; with
    `delete=true` and a `namespace`, the namespace's other API flows are deleted."""
    check_params(request, {"delete", "namespace", "override", "allowNamespaceChild"})
    ctx = api(request)
    namespace = request.path_params.get("namespace") or request.query_params.get("namespace")
    documents = [text for _, text in split_documents(await read_text(request))]
    flows = []
    for text in documents:
        try:
            flow = load_flow(text)
        except FlowLoadError as exc:
            raise invalid_flow(exc) from None
        if namespace and flow.namespace != namespace:
            raise ApiError(422, f"Flow {flow.namespace}/{flow.id} is not in namespace {namespace}")
        read_only(request, ctx.engine.flows.latest_row(flow.namespace, flow.id), "edit")
        flows.append((flow, text))
    out = []
    for flow, text in flows:
        await _deploy(ctx.engine, text, f"{flow.namespace}/{flow.id}", ctx.config.flows.path)
        row = ctx.engine.flows.latest_row(flow.namespace, flow.id)
        if row is not None:
            out.append(flow_json(row))
    if namespace and query_flag(request, "delete"):
        kept = {(f.namespace, f.id) for f, _ in flows}
        for row in live_rows(ctx.engine.flows.rows()):
            if (
                row.namespace == namespace
                and (row.namespace, row.id) not in kept
                and folder_file(row, ctx.config.flows.path) is None
            ):
                await ctx.engine.delete_flow(row.namespace, row.id)
    return json_response(out)
