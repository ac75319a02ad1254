"""Kestra's execution actions: `…/{id}/actions/{kill,pause,restart,replay,replay-with-inputs,
resume,labels,change-status}`, delete, and each action in bulk `by-ids` and `by-query`.

Every single action answers the Execution JSON the SDK reads (for a replay, the new one).
A bulk action by ids checks every id first and acts on none if one is unknown or refused
(a 400 listing them, as Kestra's `BulkErrorResponse`); by query it acts on the matching
executions the action fits and answers how many (`{"count": n}`). Commands go through
`runtime/commands/`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kestrad.api.context import ApiContext, api
from kestrad.api.errors import ApiError
from kestrad.api.execution_query import answered, execution_query, now
from kestrad.api.forms import read_inputs
from kestrad.api.params import check_params, query_flag, query_int, read_json
from kestrad.api.responses import json_response
from kestrad.model.execution import Execution, to_kestra_json
from kestrad.model.inputs import InputsInvalid
from kestrad.runtime import transitions as T
from kestrad.runtime.commands import admin
from kestrad.runtime.commands.executions import CommandRefused, ExecutionNotFound
from kestrad.storage import default_storage

MAX_BULK = 10_000  # executions one bulk request may act on


@contextlib.asynccontextmanager
async def refusals(execution_id: str) -> AsyncIterator[None]:
    try:
        yield
    except ExecutionNotFound:
        raise ApiError(404, "Execution not found", executionId=execution_id) from None
    except CommandRefused as exc:
        raise ApiError(exc.status, exc.message, executionId=execution_id) from None


def _id(request: Request) -> str:
    return request.path_params["execution_id"]


async def _answer(ctx: ApiContext, execution_id: str, status: int = 200) -> Response:
    execution = await ctx.engine.get_execution(execution_id)
    if execution is None:
        raise ApiError(404, "Execution not found", executionId=execution_id)
    return json_response(to_kestra_json(execution), status=status)


# -- one execution -----------------------------------------------------------------------------
async def kill(request: Request) -> Response:
    check_params(request, {"isOnKillCascade"})
    ctx, execution_id = api(request), _id(request)
    async with refusals(execution_id):
        await ctx.engine.kill(execution_id)
    return await _answer(ctx, execution_id, 202)


async def restart(request: Request) -> Response:
    check_params(request, {"revision"})
    ctx, execution_id = api(request), _id(request)
    revision = query_int(request, "revision", 0, low=1, high=2**31) or None
    async with refusals(execution_id):
        await ctx.engine.restart(execution_id, revision)
    return await _answer(ctx, execution_id)


async def replay(request: Request) -> Response:
    """A new execution replaying this one (from `?taskRunId=`); with-inputs: the form's
    inputs replace the original ones."""
    check_params(request, {"taskRunId", "revision", "breakpoints"})
    ctx, execution_id = api(request), _id(request)
    inputs = None
    if request.url.path.endswith("replay-with-inputs"):
        inputs, _ = await read_inputs(request, ctx.body_limit)
    try:
        async with refusals(execution_id):
            created = await ctx.engine.replay(
                execution_id, request.query_params.get("taskRunId"), inputs
            )
    except InputsInvalid as exc:
        errors = [{"input": e.input_id, "message": e.message} for e in exc.errors]
        raise ApiError(422, "Invalid inputs", errors=errors) from None
    ctx.metrics.execution_created(created)
    return json_response(to_kestra_json(created))


async def pause(request: Request) -> Response:
    """Pause a running execution: what runs ends, nothing new starts until a resume."""
    check_params(request, set())
    ctx, execution_id = api(request), _id(request)
    async with refusals(execution_id):
        await ctx.engine.pause(execution_id)
    return await _answer(ctx, execution_id)


async def resume(request: Request) -> Response:
    check_params(request, set())
    ctx, execution_id = api(request), _id(request)
    inputs, _ = await read_inputs(request, ctx.body_limit)
    async with refusals(execution_id):
        await ctx.engine.resume(execution_id, inputs or None)
    return await _answer(ctx, execution_id)


async def set_labels(request: Request) -> Response:
    """`[{key, value}, …]`: the ended execution's labels (its system labels stay)."""
    check_params(request, set())
    ctx, execution_id = api(request), _id(request)
    labels = _labels(await read_json(request))
    async with refusals(execution_id):
        execution = await admin.set_labels(ctx.engine.store, execution_id, labels)
    return json_response(to_kestra_json(execution))


async def change_status(request: Request) -> Response:
    check_params(request, {"status"})
    ctx, execution_id = api(request), _id(request)
    status = request.query_params.get("status")
    if not status:
        raise ApiError(400, "`status` is required (SUCCESS, WARNING, FAILED, …)")
    async with refusals(execution_id):
        execution = await admin.change_status(ctx.engine.store, execution_id, status)
    return json_response(to_kestra_json(execution))


DELETE_PARAMS = {"deleteLogs", "deleteMetrics", "deleteStorage", "includeNonTerminated"}


async def delete(request: Request) -> Response:
    """Delete an ended execution, its logs and its files (each unless `delete…=false`)."""
    check_params(request, DELETE_PARAMS)
    ctx, execution_id = api(request), _id(request)
    async with refusals(execution_id):
        await _delete(ctx, request, [execution_id])
    return Response(status_code=204)


async def _delete(ctx: ApiContext, request: Request, ids: list[str]) -> int:
    return await admin.delete(
        ctx.engine.store,
        default_storage(),
        ids,
        logs=query_flag(request, "deleteLogs", default=True),
        files=query_flag(request, "deleteStorage", default=True),
        non_terminated=query_flag(request, "includeNonTerminated"),
    )


def _labels(body: Any) -> dict[str, str]:
    if not isinstance(body, list):
        raise ApiError(400, 'The body must be a JSON list of labels: [{"key": …, "value": …}]')
    out: dict[str, str] = {}
    for item in body:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise ApiError(400, f'Invalid label {item!r}: expected {{"key": …, "value": …}}')
        out[item["key"]] = str(item.get("value", ""))
    return out


# -- bulk --------------------------------------------------------------------------------------
Check = Callable[[Execution], "T.Refusal | None"]
Act = Callable[[ApiContext, Request, list[str]], Awaitable[int]]


def _terminated(what: str) -> Check:
    def check(execution: Execution) -> T.Refusal | None:
        if execution.terminated:
            return None
        return T.Refusal(what, f"execution is not terminated ({execution.state.current})")

    return check


async def _each(
    ctx: ApiContext, ids: list[str], command: Callable[[str], Awaitable[object]]
) -> int:
    done = 0
    for execution_id in ids:
        with contextlib.suppress(ExecutionNotFound, CommandRefused):
            await command(execution_id)
            done += 1
    return done


def _kill(ctx: ApiContext, request: Request, ids: list[str]) -> Awaitable[int]:
    return _each(ctx, ids, ctx.engine.kill)


def _restart(ctx: ApiContext, request: Request, ids: list[str]) -> Awaitable[int]:
    return _each(ctx, ids, ctx.engine.restart)


def _resume(ctx: ApiContext, request: Request, ids: list[str]) -> Awaitable[int]:
    return _each(ctx, ids, ctx.engine.resume)


def _pause(ctx: ApiContext, request: Request, ids: list[str]) -> Awaitable[int]:
    return _each(ctx, ids, ctx.engine.pause)


async def _replay(ctx: ApiContext, request: Request, ids: list[str]) -> int:
    if query_flag(request, "latestRevision"):
        raise ApiError(400, "`latestRevision=true` is not supported: a replay keeps its revision")
    done = 0
    for execution_id in ids:
        with contextlib.suppress(ExecutionNotFound, CommandRefused):
            created = await ctx.engine.replay(execution_id)
            ctx.metrics.execution_created(created)
            done += 1
    return done


def _change_status(ctx: ApiContext, request: Request, ids: list[str]) -> Awaitable[int]:
    status = request.query_params.get("newStatus") or ""
    if not status:
        raise ApiError(400, "`newStatus` is required (SUCCESS, WARNING, FAILED, …)")
    return _each(ctx, ids, lambda i: admin.change_status(ctx.engine.store, i, status))


def _set_labels(labels: dict[str, str]) -> Act:
    def act(ctx: ApiContext, request: Request, ids: list[str]) -> Awaitable[int]:
        return _each(ctx, ids, lambda i: admin.set_labels(ctx.engine.store, i, labels))

    return act


def _delete_bulk(ctx: ApiContext, request: Request, ids: list[str]) -> Awaitable[int]:
    return _delete(ctx, request, ids)


BULK: dict[str, tuple[Check, Act, frozenset[str]]] = {
    "kill": (T.KILL.check, _kill, frozenset()),
    "restart": (T.RESTART.check, _restart, frozenset()),
    "resume": (lambda e: T.RESUME.check(e), _resume, frozenset()),
    "pause": (T.PAUSE_REQUEST.check, _pause, frozenset()),
    "replay": (lambda e: T.REPLAY.check(e, None), _replay, frozenset({"latestRevision"})),
    "change-status": (_terminated("change status"), _change_status, frozenset({"newStatus"})),
    # The labels come with the request: `by_ids` and `by_query` build the action.
    "labels": (_terminated("have its labels set"), _set_labels({}), frozenset()),
    "delete": (_terminated("be deleted"), _delete_bulk, frozenset(DELETE_PARAMS)),
}


def _action(request: Request) -> str:
    action = request.path_params.get("action", "delete")
    if action not in BULK:
        raise ApiError(404, "no such route")
    return action


async def by_ids(request: Request) -> Response:
    """`[id, …]` (labels: `{executionsId, executionLabels}`): every id checked, then acted on."""
    ctx, action = api(request), _action(request)
    check, act, params = BULK[action]
    check_params(request, params)
    body = await read_json(request)
    if action == "labels":
        if not isinstance(body, dict):
            raise ApiError(
                400, 'The body must be {"executionsId": [...], "executionLabels": [...]}'
            )
        labels = _labels(body.get("executionLabels"))
        act = _set_labels(labels)
        body = body.get("executionsId")
    ids = _ids(body)
    include = action == "delete" and query_flag(request, "includeNonTerminated")
    errors = []
    for execution_id in ids:
        execution = await ctx.engine.get_execution(execution_id)
        refusal = None if execution is None or include else check(execution)
        if execution is None:
            errors.append({"executionId": execution_id, "message": "Execution not found"})
        elif refusal is not None:
            errors.append({"executionId": execution_id, "message": refusal.message})
    if errors:
        raise ApiError(
            400,
            "Invalid bulk request: "
            + "; ".join(f"{e['executionId']}: {e['message']}" for e in errors),
            invalids=errors,
        )
    return json_response({"count": await act(ctx, request, ids)})


async def by_query(request: Request) -> Response:
    """The executions matching the filters that the action fits, acted on; their count."""
    ctx, action = api(request), _action(request)
    check, act, params = BULK[action]
    query = execution_query(request, params)
    if query.empty():
        raise ApiError(400, "A bulk action by query needs at least one filter")
    if action == "labels":
        act = _set_labels(_labels(await read_json(request)))
    async with answered():
        ids = await ctx.engine.store.found_execution_ids(query, now=now(), limit=MAX_BULK)
    include = action == "delete" and query_flag(request, "includeNonTerminated")
    chosen = []
    for execution_id in ids:
        execution = await ctx.engine.get_execution(execution_id)
        if execution is not None and (include or check(execution) is None):
            chosen.append(execution_id)
    return json_response({"count": await act(ctx, request, chosen)})


def _ids(body: Any) -> list[str]:
    if not isinstance(body, list) or not all(isinstance(i, str) for i in body):
        raise ApiError(400, "The body must be a JSON list of execution ids")
    if len(body) > MAX_BULK:
        raise ApiError(400, f"At most {MAX_BULK} executions per bulk request")
    return list(dict.fromkeys(body))
