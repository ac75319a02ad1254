"""`GET triggers/search` and `POST triggers/{namespace}/{flowId}/{triggerId}/unlock`.

The scheduler of this daemon holds the live trigger states; they are read from it when it
runs (its index is the truth between two ticks), else from the store.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from kestrad.api.context import api
from kestrad.api.errors import ApiError, error_response
from kestrad.api.params import read_json
from kestrad.api.responses import json_response
from kestrad.runtime.scheduler import new_backfill

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


async def unlock(request: Request) -> Response:
    """Clear the trigger's lock (the execution it waits for) so it can fire again."""
    ctx = api(request)
    key = (
        request.path_params["namespace"],
        request.path_params["flow_id"],
        request.path_params["trigger_id"],
    )
    scheduler = ctx.engine.scheduler
    if scheduler is None:
        return error_response(503, "no scheduler runs in this daemon")
    row = scheduler.state(key)
    if row is None:
        return error_response(404, f"trigger {key[0]}/{key[1]}/{key[2]} not found")
    scheduler.unlock(key)
    return json_response(trigger_json(scheduler.state(key) or row))


def _key(request: Request) -> tuple[str, str, str]:
    return (
        request.path_params["namespace"],
        request.path_params["flow_id"],
        request.path_params["trigger_id"],
    )


def _instant(text: Any, zone: Any, name: str) -> float:
    if not isinstance(text, str) or not text:
        raise ApiError(400, f"`{name}` is required (an ISO-8601 date-time)")
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"`{name}` `{text}` is not an ISO-8601 date-time") from None
    return (value if value.tzinfo else value.replace(tzinfo=zone or UTC)).timestamp()


async def backfill(request: Request) -> Response:
    """Start a backfill: `{start, end?, inputs?, labels?}`; `end` defaults to now."""

    ctx = api(request)
    scheduler = ctx.engine.scheduler
    key = _key(request)
    if scheduler is None:
        return error_response(503, "no scheduler runs in this daemon")
    plan = scheduler.plan(key)
    if plan is None or scheduler.state(key) is None:
        return error_response(404, f"schedule trigger {key[0]}/{key[1]}/{key[2]} not found")
    body = await read_json(request)
    if not isinstance(body, dict):
        return error_response(400, "the body must be a JSON object with `start`")
    start = _instant(body.get("start"), plan.zone, "start")
    end = _instant(body["end"], plan.zone, "end") if body.get("end") else time.time()
    inputs, labels = body.get("inputs"), body.get("labels")
    if inputs is not None and not isinstance(inputs, dict):
        return error_response(400, "`inputs` must be an object")
    if labels is not None and not isinstance(labels, dict):
        return error_response(400, "`labels` must be an object")
    try:
        created = new_backfill(plan, start, end, inputs=inputs, labels=labels)
    except ValueError as exc:
        return error_response(400, str(exc))
    scheduler.set_backfill(key, created)
    return json_response(trigger_json(scheduler.state(key)))


async def backfill_action(request: Request) -> Response:
    """`POST …/backfill/pause`, `…/backfill/resume`, `DELETE …/backfill`."""
    ctx = api(request)
    scheduler = ctx.engine.scheduler
    key = _key(request)
    if scheduler is None:
        return error_response(503, "no scheduler runs in this daemon")
    row = scheduler.state(key)
    if row is None or row.backfill is None:
        return error_response(404, f"trigger {key[0]}/{key[1]}/{key[2]} has no backfill")
    action = request.path_params.get("action")
    if request.method == "DELETE":
        scheduler.set_backfill(key, None)
    elif action in ("pause", "resume"):
        scheduler.set_backfill(key, msgspec.structs.replace(row.backfill, paused=action == "pause"))
    else:
        return error_response(404, f"unknown backfill action `{action}`")
    return json_response(trigger_json(scheduler.state(key)))
