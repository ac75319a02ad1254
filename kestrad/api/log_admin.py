"""Logs beyond one execution's list and follow: search with Kestra's filters (in SQL),
an execution's lines as a text download, and deleting an execution's or a flow's lines."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from kestrad.api.context import api
from kestrad.api.errors import ApiError
from kestrad.api.logs import LEVELS, LogFilter, log_json
from kestrad.api.params import check_params, query_int
from kestrad.api.query_filters import parse_filters
from kestrad.api.responses import json_response
from kestrad.model.query import Filter, Op, Query, Resource
from kestrad.store.filters import UnsupportedFilter

PAGE = 1000
FAR_FUTURE = "9999-12-31T23:59:59.999999Z"
# Kestra's older plain parameters of a logs search, as filters.
_LEGACY = {
    "namespace": ("namespace", Op.PREFIX),
    "flowId": ("flowId", Op.EQUALS),
    "q": ("q", Op.EQUALS),
    "startDate": ("startDate", Op.GREATER_THAN_OR_EQUAL_TO),
    "endDate": ("endDate", Op.LESS_THAN_OR_EQUAL_TO),
}


def _query(request: Request) -> Query:
    check_params(request, {"page", "size", "sort", "minLevel", *_LEGACY})
    query = parse_filters(request.query_params.multi_items(), Resource.LOG)
    filters = list(query.filters)
    for name, (field, op) in _LEGACY.items():
        if request.query_params.get(name):
            filters.append(Filter(field=field, op=op, value=request.query_params[name]))
    level = (request.query_params.get("minLevel") or "").upper()
    if level:
        if level not in LEVELS:
            raise ApiError(400, f"Unknown level `{level}` in `minLevel`")
        level = "WARN" if level == "WARNING" else level
        filters.append(Filter(field="level", op=Op.GREATER_THAN_OR_EQUAL_TO, value=level))
    return Query(filters=filters, groups=query.groups)


async def search(request: Request) -> Response:
    """A page of matching log lines, newest first, with the total."""
    store = api(request).engine.store
    query = _query(request)
    page = query_int(request, "page", 1, low=1, high=1_000_000)
    size = query_int(request, "size", 25, low=1, high=1000)
    now = time.time()
    try:
        rows = await store.find_logs(query, now=now, limit=size, offset=(page - 1) * size)
        total = await store.count_found_logs(query, now=now)
    except UnsupportedFilter as exc:
        raise ApiError(400, f"Invalid query filters: {exc}") from None
    return json_response({"results": [log_json(e) for e in rows], "total": total})


async def download(request: Request) -> Response:
    """The execution's lines as text, one per line: `timestamp level [task] message`."""
    check_params(request, {"minLevel", "taskId", "taskRunId", "attempt"})
    ctx = api(request)
    execution_id = request.path_params["execution_id"]
    if await ctx.engine.get_execution(execution_id) is None:
        raise ApiError(404, "Execution not found", executionId=execution_id)
    keep = LogFilter(request)

    async def lines() -> AsyncIterator[bytes]:
        after = 0
        while True:
            page = await ctx.engine.store.list_logs(execution_id, after=after, limit=PAGE)
            text = "".join(
                f"{e.timestamp} {e.level} {'[' + e.task_id + '] ' if e.task_id else ''}{e.message}\n"
                for e in page
                if keep(e)
            )
            if text:
                yield text.encode()
            if len(page) < PAGE:
                return
            after = page[-1].seq

    return StreamingResponse(
        lines(),
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{execution_id}.log"'},
    )


async def delete_execution_logs(request: Request) -> Response:
    check_params(request, {"minLevel", "taskId", "taskRunId", "attempt"})
    ctx = api(request)
    execution_id = request.path_params["execution_id"]
    if await ctx.engine.get_execution(execution_id) is None:
        raise ApiError(404, "Execution not found", executionId=execution_id)
    await ctx.engine.store.delete_executions([execution_id], executions=False, logs=True)
    return Response(status_code=204)


async def delete_flow_logs(request: Request) -> Response:
    """Every line of a flow's executions (Kestra's `DELETE logs/{ns}/{flowId}`)."""
    check_params(request, {"triggerId"})
    ctx = api(request)
    await ctx.engine.store.purge_logs(
        end=FAR_FUTURE,
        namespace=request.path_params["namespace"],
        flow_id=request.path_params["flow_id"],
    )
    return Response(status_code=204)
