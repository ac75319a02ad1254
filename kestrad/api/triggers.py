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
from kestrad.api.params import read_json
from kestrad.api.responses import json_response
from kestrad.runtime.commands.triggers import (
    InvalidCommand,
    Outcome,
    TriggerCommandError,
    TriggerCommands,
)

MAX_SIZE = 1000


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
