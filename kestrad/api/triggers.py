"""`GET triggers/search` and `POST triggers/{namespace}/{flowId}/{triggerId}/unlock`.

The scheduler of this daemon holds the live trigger states; they are read from it when it
runs (its index is the truth between two ticks), else from the store.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kestrad.api.context import api
from kestrad.api.errors import error_response
from kestrad.api.responses import json_response

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
        "backfill": None if row.backfill is None else {"running": True},
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
