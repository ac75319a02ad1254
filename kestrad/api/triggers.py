"""`GET triggers/search`, `POST …/{triggerId}/unlock` and a trigger's backfill routes.

The scheduler of this daemon holds the live trigger states; they are read from it when it
runs (its index is the truth between two ticks), else from the store. Commands are
validated and applied by `runtime/commands/triggers.py`; this module only maps HTTP to
them and their errors to statuses.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kestrad.api.context import api
from kestrad.api.errors import ApiError, error_response
from kestrad.api.params import check_params, query_flag, query_int, read_json
from kestrad.api.query_filters import parse_filters
from kestrad.api.responses import json_response
from kestrad.model.query import Filter, Op, Query, Resource
from kestrad.runtime.commands.triggers import (
    InvalidCommand,
    Outcome,
    TriggerCommandError,
    TriggerCommands,
)
from kestrad.runtime.flow_search import select_triggers
from kestrad.store.filters import UnsupportedFilter

MAX_SIZE = 1000
MAX_ROWS = 100_000  # trigger states one search reads


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def trigger_json(row: Any) -> dict[str, Any]:
    """A trigger state in the shape of Kestra's trigger search results."""
    return {
        "namespace": row.namespace,
        "flowId": row.flow_id,
        "triggerId": row.trigger_id,
        "executionId": row.execution_id,
        "nextExecutionDate": _iso(row.next_fire_at),
        "disabled": row.disabled,
        "backfill": None
        if row.backfill is None
        else {
            "start": _iso(row.backfill.start),
            "end": _iso(row.backfill.end),
            "currentDate": _iso(row.backfill.cursor),
            "paused": row.backfill.paused,
        },
    }


async def search(request: Request) -> Response:
    """Trigger states, filtered by `namespace` and `flowId`, at most `size` (≤ 1000)."""
    ctx = api(request)
    namespace = request.query_params.get("namespace") or None
    flow_id = request.query_params.get("flowId") or None
    try:
        size = min(int(request.query_params.get("size", "100")), MAX_SIZE)
    except ValueError:
        return error_response(400, "`size` must be an integer")
    if size < 1:
        return error_response(400, "`size` must be at least 1")
    rows = await ctx.engine.store.list_triggers(namespace=namespace, flow_id=flow_id, limit=size)
    scheduler = ctx.engine.scheduler
    if scheduler is not None:
        rows = [scheduler.state(row.key) or row for row in rows]
    return json_response({"results": [trigger_json(row) for row in rows], "total": len(rows)})


def _key(request: Request) -> tuple[str, str, str]:
    return (
        request.path_params["namespace"],
        request.path_params["flow_id"],
        request.path_params["trigger_id"],
    )


def _commands(request: Request) -> TriggerCommands:
    engine = api(request).engine
    return TriggerCommands(engine.store, engine.scheduler)


def _answer(outcome: Outcome) -> Response:
    return json_response(trigger_json(outcome.row))


def _failure(exc: TriggerCommandError) -> ApiError:
    """400 for a bad argument; 404 for an unknown trigger or one the command does not fit."""
    return ApiError(400 if isinstance(exc, InvalidCommand) else 404, str(exc))


async def unlock(request: Request) -> Response:
    """Clear the trigger's lock (the execution it waits for) so it can fire again."""
    try:
        return _answer(await _commands(request).unlock(_key(request)))
    except TriggerCommandError as exc:
        raise _failure(exc) from None


async def backfill(request: Request) -> Response:
    """Start a backfill: `{start, end?, inputs?, labels?}`; `end` defaults to now."""
    body = await read_json(request)
    if not isinstance(body, dict):
        return error_response(400, "the body must be a JSON object with `start`")
    try:
        outcome = await _commands(request).start_backfill(
            _key(request),
            body.get("start"),
            body.get("end"),
            inputs=body.get("inputs"),
            labels=body.get("labels"),
        )
    except TriggerCommandError as exc:
        raise _failure(exc) from None
    return _answer(outcome)


async def backfill_action(request: Request) -> Response:
    """`POST …/backfill/pause`, `…/backfill/resume`, `DELETE …/backfill`."""
    commands, key = _commands(request), _key(request)
    action = request.path_params.get("action")
    try:
        if request.method == "DELETE":
            outcome = await commands.delete_backfill(key)
        elif action == "pause":
            outcome = await commands.pause_backfill(key)
        elif action == "resume":
            outcome = await commands.resume_backfill(key)
        else:
            return error_response(404, f"unknown backfill action `{action}`")
    except TriggerCommandError as exc:
        raise _failure(exc) from None
    return _answer(outcome)


# -- Kestra's trigger search shape, filters, set-disabled and unlock in bulk -----------------
async def _states(request: Request, query: Query, limit: int = MAX_ROWS) -> list[Any]:
    """The trigger states matching `query` (scheduler's live state where it runs)."""
    ctx = api(request)
    rows = await ctx.engine.store.list_triggers(limit=limit)
    scheduler = ctx.engine.scheduler
    if scheduler is not None:
        rows = [scheduler.state(row.key) or row for row in rows]
    try:
        return select_triggers(rows, query)
    except UnsupportedFilter as exc:
        raise ApiError(400, f"Invalid query filters: {exc}") from None


def trigger_and_state(request: Request, row: Any) -> dict[str, Any]:
    """Kestra's `ApiTriggerAndState`: the trigger as declared and its state (the state's
    fields also at the top level, as this API answered before)."""
    flows = api(request).engine.flows
    declared: dict[str, Any] = {"id": row.trigger_id}
    flow = flows.latest(row.namespace, row.flow_id)
    for trigger in (flow.triggers or ()) if flow is not None else ():
        if trigger.id == row.trigger_id:
            declared = {"id": trigger.id, "type": trigger.type, "disabled": bool(trigger.disabled)}
    state = trigger_json(row)
    return {**state, "trigger": declared, "state": state}


async def search_filtered(request: Request) -> Response:
    """Trigger states by Kestra's filters (and the older `namespace`/`flowId`/`q`), paged."""
    check_params(request, {"page", "size", "sort", "namespace", "flowId", "q", "dateFilter"})
    query = _legacy(request, parse_filters(request.query_params.multi_items(), Resource.TRIGGER))
    page = query_int(request, "page", 1, low=1, high=1_000_000)
    size = query_int(request, "size", 100, low=1, high=MAX_SIZE)
    rows = await _states(request, query)
    chosen = rows[(page - 1) * size : page * size]
    return json_response(
        {"results": [trigger_and_state(request, r) for r in chosen], "total": len(rows)}
    )


async def of_flow(request: Request) -> Response:
    """The trigger states of one flow (Kestra's `GET triggers/{namespace}/{flowId}`)."""
    check_params(request, {"page", "size", "sort", "q"})
    namespace, flow_id = request.path_params["namespace"], request.path_params["flow_id"]
    filters = [
        Filter(field="namespace", op=Op.EQUALS, value=namespace),
        Filter(field="flowId", op=Op.EQUALS, value=flow_id),
    ]
    query = _legacy(request, Query(filters=filters))
    rows = await _states(request, query)
    return json_response({"results": [trigger_json(r) for r in rows], "total": len(rows)})


def _legacy(request: Request, query: Query) -> Query:
    filters = list(query.filters)
    for name, field, op in (
        ("namespace", "namespace", Op.PREFIX),
        ("flowId", "flowId", Op.EQUALS),
        ("q", "q", Op.EQUALS),
    ):
        if request.query_params.get(name) and request.url.path.endswith("/search"):
            filters.append(Filter(field=field, op=op, value=request.query_params[name]))
    if request.query_params.get("q") and not request.url.path.endswith("/search"):
        filters.append(Filter(field="q", op=Op.EQUALS, value=request.query_params["q"]))
    return Query(filters=filters, groups=query.groups)


def _trigger_key(item: Any) -> tuple[str, str, str]:
    if not isinstance(item, dict) or not all(
        isinstance(item.get(k), str) and item.get(k) for k in ("namespace", "flowId", "triggerId")
    ):
        raise ApiError(400, 'A trigger is {"namespace": …, "flowId": …, "triggerId": …}')
    return item["namespace"], item["flowId"], item["triggerId"]


async def set_disabled(request: Request) -> Response:
    """`PUT triggers/set-disabled` with one trigger and `disabled`."""
    check_params(request, set())
    body = await read_json(request)
    key = _trigger_key(body)
    if not isinstance(body.get("disabled"), bool):
        raise ApiError(400, "`disabled` (true or false) is required")
    try:
        outcome = await _commands(request).set_enabled(key, not body["disabled"])
    except TriggerCommandError as exc:
        raise _failure(exc) from None
    return json_response(trigger_and_state(request, outcome.row))


async def _each(
    request: Request, keys: list[tuple[str, str, str]], action: str, disabled: bool
) -> int:
    commands, done = _commands(request), 0
    for key in keys:
        try:
            if action == "unlock":
                await commands.unlock(key)
            else:
                await commands.set_enabled(key, not disabled)
        except TriggerCommandError:
            continue
        done += 1
    return done


async def bulk_by_triggers(request: Request) -> Response:
    """`POST triggers/set-disabled/by-triggers` `{triggers, disabled}`, `POST
    triggers/unlock/by-triggers` `[trigger, …]`: how many were changed."""
    check_params(request, set())
    action = request.path_params["action"]
    body = await read_json(request)
    disabled = False
    if action == "set-disabled":
        if not isinstance(body, dict) or not isinstance(body.get("disabled"), bool):
            raise ApiError(400, '{"triggers": [...], "disabled": true|false} is required')
        disabled, body = body["disabled"], body.get("triggers")
    elif action != "unlock":
        raise ApiError(404, "no such route")
    if not isinstance(body, list) or len(body) > MAX_SIZE:
        raise ApiError(400, f"The triggers must be a JSON list (at most {MAX_SIZE})")
    keys = [_trigger_key(item) for item in body]
    return json_response({"count": await _each(request, keys, action, disabled)})


async def bulk_by_query(request: Request) -> Response:
    """`POST triggers/set-disabled/by-query?disabled=…`, `POST triggers/unlock/by-query`."""
    action = request.path_params["action"]
    if action not in ("set-disabled", "unlock"):
        raise ApiError(404, "no such route")
    check_params(request, {"disabled"} if action == "set-disabled" else set())
    query = parse_filters(request.query_params.multi_items(), Resource.TRIGGER)
    if query.empty():
        raise ApiError(400, "A bulk action by query needs at least one filter")
    disabled = query_flag(request, "disabled")
    if action == "set-disabled" and "disabled" not in request.query_params:
        raise ApiError(400, "`disabled` (true or false) is required")
    rows = await _states(request, query)
    count = await _each(request, [r.key for r in rows], action, disabled)
    return json_response({"count": count})


async def restart(request: Request) -> Response:
    """Kestra's trigger restart: its lock released so it evaluates again."""
    check_params(request, set())
    try:
        outcome = await _commands(request).unlock(_key(request))
    except TriggerCommandError as exc:
        raise _failure(exc) from None
    return json_response(trigger_and_state(request, outcome.row))
