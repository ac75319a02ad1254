"""Executions: create (inputs, labels, `?wait=true`), get, search, follow, kill, resume, restart,
replay.

Responses are Kestra's Execution JSON. Search pages with an opaque cursor over
(start date, id), newest first (Kestra's `page` numbers work too), and counts only when
asked: a count is a scan, a page is an index range.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response

from kestrad.api import sse
from kestrad.api.context import ApiContext, api, wait_for
from kestrad.api.errors import ApiError
from kestrad.api.execution_query import answered, check_sort, execution_query, now
from kestrad.api.forms import Upload, parse_labels, read_inputs, read_inputs_and_files
from kestrad.api.lookup import enabled_flow
from kestrad.api.params import check_params, query_flag, query_int
from kestrad.api.responses import encode_json, json_response
from kestrad.model.execution import Execution, to_kestra_json
from kestrad.model.ids import new_id
from kestrad.model.inputs import InputsInvalid
from kestrad.model.state import TERMINATED
from kestrad.runtime.commands.executions import CommandRefused, ExecutionNotFound
from kestrad.storage import StorageError, StorageURI, default_storage, execution_prefix
from kestrad.store.cursor import decode_cursor, encode_cursor, position

# How often a `?wait=true` request checks that its client is still there.
WAIT_CHECK = 1.0


def invalid_inputs(exc: InputsInvalid) -> ApiError:
    errors = [{"input": e.input_id, "message": e.message} for e in exc.errors]
    return ApiError(
        422, "Invalid inputs: " + "; ".join(e.message for e in exc.errors), errors=errors
    )


CREATE_PARAMS = frozenset({"labels", "wait", "revision", "kind"})


async def create(request: Request) -> Response:
    ctx = api(request)
    if "scheduleDate" in request.query_params or "breakpoints" in request.query_params:
        name = "scheduleDate" if "scheduleDate" in request.query_params else "breakpoints"
        raise ApiError(400, f"`{name}` is not supported: executions start when created")
    check_params(request, CREATE_PARAMS)
    kind = request.query_params.get("kind")
    if kind is not None and kind.upper() != "NORMAL":
        raise ApiError(400, f"`kind={kind}`: only NORMAL executions are run here")
    namespace, flow_id = request.path_params["namespace"], request.path_params["id"]
    flow = await enabled_flow(ctx.engine, namespace, flow_id)
    revision = query_int(request, "revision", flow.revision, low=1, high=2**31)
    inputs, form_labels, uploads = await read_inputs_and_files(request, ctx.body_limit)
    labels = parse_labels([*request.query_params.getlist("labels"), *form_labels])
    wait = query_flag(request, "wait")
    file_inputs = {i.id for i in flow.inputs or () if i.type == "FILE"}
    refused = [u.input_id for u in uploads if u.input_id not in file_inputs]
    if refused:
        errors = [
            {"input": i, "message": "a file was sent, but it is not a FILE input"} for i in refused
        ]
        raise ApiError(
            422,
            "Invalid inputs: " + "; ".join(f"{i}: not a FILE input" for i in refused),
            errors=errors,
        )
    execution_id = new_id()
    stored = _store_uploads(namespace, flow_id, execution_id, uploads)
    inputs.update({name: str(uri) for name, uri in stored.items()})
    try:
        execution = await ctx.engine.build_execution(
            namespace, flow_id, inputs, labels, revision=revision, execution_id=execution_id
        )
    except InputsInvalid as exc:
        for uri in stored.values():
            default_storage().delete(uri)
        raise invalid_inputs(exc) from None
    await ctx.creations.store(execution)
    ctx.metrics.execution_created(execution)
    if wait:
        execution = await wait_end(ctx, request, execution)
    return json_response(to_kestra_json(execution))


def _store_uploads(
    namespace: str, flow_id: str, execution_id: str, uploads: list[Upload]
) -> dict[str, StorageURI]:
    """Each uploaded file in the execution's storage, where Kestra puts input files:
    `<namespace>/<flow>/executions/<id>/inputs/<input>/<file name>`."""
    storage = default_storage()
    stored: dict[str, StorageURI] = {}
    try:
        for upload in uploads:
            prefix = execution_prefix(namespace, flow_id, execution_id)
            uri = StorageURI((*prefix, "inputs", upload.input_id, upload.filename))
            stored[upload.input_id] = storage.put(uri, upload.data)
    except StorageError as exc:
        for uri in stored.values():
            storage.delete(uri)
        raise ApiError(422, f"Invalid inputs: {exc}") from None
    return stored


async def validate_inputs(request: Request) -> Response:
    """Kestra's `validate`: each input of the flow with its resolved value or its errors,
    nothing stored (an upload is checked as a file input, not kept)."""
    ctx = api(request)
    check_params(request, {"revision", "labels"})
    namespace, flow_id = request.path_params["namespace"], request.path_params["id"]
    flow = await enabled_flow(ctx.engine, namespace, flow_id)
    revision = query_int(request, "revision", flow.revision, low=1, high=2**31)
    inputs, form_labels, uploads = await read_inputs_and_files(request, ctx.body_limit)
    parse_labels([*request.query_params.getlist("labels"), *form_labels])
    for upload in uploads:
        inputs[upload.input_id] = f"kestra:///{upload.filename}"
    errors: dict[str, list[str]] = {}
    resolved: dict[str, Any] = {}
    try:
        execution = await ctx.engine.build_execution(
            namespace, flow_id, inputs, {}, revision=revision
        )
        resolved = execution.inputs
    except InputsInvalid as exc:
        for error in exc.errors:
            errors.setdefault(error.input_id, []).append(error.message)
    checked = [
        {
            "input": {"id": item.id, "type": item.type, "required": item.required},
            "value": resolved.get(item.id, inputs.get(item.id)),
            "enabled": True,
            "isDefault": item.id not in inputs,
            "errors": [{"message": m} for m in errors.get(item.id, [])],
        }
        for item in flow.inputs or ()
    ]
    return json_response({"id": flow_id, "namespace": namespace, "inputs": checked, "checks": []})


async def wait_end(ctx: ApiContext, request: Request, execution: Execution) -> Execution:
    """The execution once it ended; earlier if the client hangs up or the daemon stops.

    Kestra waits without a limit, so do we, but a request whose client is gone must not
    hold a waiter for hours.
    """
    while True:
        try:
            return await ctx.engine.wait_for(execution.id, timeout=WAIT_CHECK)
        except TimeoutError:
            pass
        if ctx.closing or await request.is_disconnected():
            return await ctx.engine.get_execution(execution.id) or execution


async def _existing(ctx: ApiContext, execution_id: str) -> Execution:
    execution = await ctx.engine.get_execution(execution_id)
    if execution is None:
        raise ApiError(404, "Execution not found", executionId=execution_id)
    return execution


async def get(request: Request) -> Response:
    check_params(request, set())
    execution = await _existing(api(request), request.path_params["execution_id"])
    return json_response(to_kestra_json(execution))


async def kill(request: Request) -> Response:
    ctx = api(request)
    async with _command(request):
        await ctx.engine.kill(request.path_params["execution_id"])
    return Response(status_code=202)


async def resume(request: Request) -> Response:
    ctx = api(request)
    inputs, _ = await read_inputs(request, ctx.body_limit)
    async with _command(request):
        await ctx.engine.resume(request.path_params["execution_id"], inputs or None)
    return Response(status_code=204)


MAX_COMMENT = 10_000


async def approve(request: Request) -> Response:
    """Answer a paused Approval task: APPROVED (`?comment=`, decision inputs in the body)."""
    return await _decide(request, "APPROVED")


async def deny(request: Request) -> Response:
    return await _decide(request, "DENIED")


async def _decide(request: Request, decision: str) -> Response:
    ctx = api(request)
    comment = request.query_params.get("comment")
    if comment is not None and len(comment) > MAX_COMMENT:
        raise ApiError(422, f"comment longer than {MAX_COMMENT} characters")
    inputs, _ = await read_inputs(request, ctx.body_limit)
    async with _command(request):
        await ctx.engine.resume(
            request.path_params["execution_id"], inputs or None, decision=decision, comment=comment
        )
    return Response(status_code=204)


async def restart(request: Request) -> Response:
    """Run the failed task runs of an ended (or paused) execution again, same id."""
    ctx = api(request)
    revision = query_int(request, "revision", 0, low=1, high=2**31) or None
    async with _command(request):
        execution = await ctx.engine.restart(request.path_params["execution_id"], revision)
    return json_response(to_kestra_json(execution), status=202)


async def replay(request: Request) -> Response:
    """A new execution replaying this one, from the start or from `?taskRunId=`."""
    ctx = api(request)
    async with _command(request):
        created = await ctx.engine.replay(
            request.path_params["execution_id"], request.query_params.get("taskRunId")
        )
    ctx.metrics.execution_created(created)
    return json_response(to_kestra_json(created))


@contextlib.asynccontextmanager
async def _command(request: Request) -> AsyncIterator[None]:
    """A command's refusal as the API answers it: 404 for an unknown execution, else the
    transition rule's status (409, or 422 for a replay from a foreign task run)."""
    try:
        yield
    except ExecutionNotFound:
        raise ApiError(
            404, "Execution not found", executionId=request.path_params["execution_id"]
        ) from None
    except CommandRefused as exc:
        raise ApiError(exc.status, exc.message) from None


# -- search ------------------------------------------------------------------------------------
MAX_PAGE = 1_000_000  # bounds the OFFSET one request can make the database walk


def _after(request: Request) -> tuple[str, str] | None:
    raw = request.query_params.get("after")
    if not raw:
        return None
    try:
        return decode_cursor(raw)
    except ValueError:
        raise ApiError(400, "Invalid cursor `after`") from None


SEARCH_PARAMS = frozenset({"page", "size", "sort", "after", "count"})


async def search(request: Request) -> Response:
    """One page of executions, newest first (start date, then id, descending).

    Filters are Kestra's `filters[field][OP]=value` (and its older plain parameters), all
    answered in SQL. Two ways to page. `after` (the previous page's `next`) is a keyset
    cursor: an index range scan, as fast deep in a million rows as on the first page, and
    stable while executions are created. `page` (1-based, with `size`) is Kestra's: it
    skips (page - 1) * size rows, a cost that grows with the page number. `after` with a
    page past the first is a 400: the two would disagree on where the page starts.
    `total` is a separate count(*), made only when asked: `?count=true`, or a `page`
    parameter without `count=false`, since Kestra's clients send `page` and read `total`.
    """
    ctx = api(request)
    query = execution_query(request, SEARCH_PARAMS)
    check_sort(request)
    size = query_int(request, "size", 25, low=1, high=1000)
    page = query_int(request, "page", 1, low=1, high=MAX_PAGE)
    after = _after(request)
    if after is not None and page > 1:
        raise ApiError(400, "Use either `after` or `page`, not both")
    store = ctx.engine.store
    moment = now()
    async with answered():
        rows = await store.find_executions(
            query, now=moment, after=after, limit=size + 1, offset=(page - 1) * size
        )
        results = rows[:size]
        body: dict[str, Any] = {
            "results": [to_kestra_json(e) for e in results],
            "next": encode_cursor(position(results[-1])) if len(rows) > size else None,
        }
        if query_flag(request, "count", default="page" in request.query_params):
            body["total"] = await store.count_found_executions(query, now=moment)
    return json_response(body)


# -- follow (SSE) ------------------------------------------------------------------------------
async def follow(request: Request) -> Response:
    """The stored execution first, then each change, then `end` once it is terminal.

    Kestra marks events with `id: progress` / `id: end`; the final one also carries
    `event: end` so standard SSE clients can tell it apart.
    """
    ctx = api(request)
    execution_id = request.path_params["execution_id"]
    first = await wait_exists(ctx, execution_id)
    return sse.sse_response(_follow_stream(ctx, first))


async def wait_exists(ctx: ApiContext, execution_id: str) -> Execution:
    """Kestra waits up to 10 s for an execution to appear (a follow right after create)."""
    deadline = time.monotonic() + ctx.follow_wait
    while True:
        execution = await ctx.engine.get_execution(execution_id)
        if execution is not None:
            return execution
        if time.monotonic() >= deadline:
            raise ApiError(404, "Execution not found", executionId=execution_id)
        await anyio.sleep(min(0.1, ctx.follow_wait))


async def _follow_stream(ctx: ApiContext, execution: Execution) -> AsyncIterator[bytes]:
    hub = ctx.engine.hub
    wake = ctx.open_stream()

    def on_change(updated: Execution) -> None:
        if updated.id == execution.id:
            wake.set()

    unsubscribe = hub.subscribe_executions(on_change)
    try:
        last = encode_json(to_kestra_json(execution))
        if execution.state.current in TERMINATED:
            yield sse.event(last, name="end", event_id="end")
            return
        yield sse.event(last, event_id="progress")
        idle = 0.0
        while not ctx.closing:
            woke = await wait_for(wake, ctx.poll_interval)
            current = await ctx.engine.get_execution(execution.id)
            if current is None:  # deleted meanwhile
                return
            data = encode_json(to_kestra_json(current))
            if current.state.current in TERMINATED:
                yield sse.event(data, name="end", event_id="end")
                return
            if data != last:
                last, idle = data, 0.0
                yield sse.event(data, event_id="progress")
            elif not woke:
                idle += ctx.poll_interval
                if idle >= ctx.heartbeat:
                    idle = 0.0
                    yield sse.HEARTBEAT
        yield sse.event(last, name="shutdown")
    finally:
        unsubscribe()
        ctx.close_stream(wake)
