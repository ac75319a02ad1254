"""`GET /health`: is this daemon able to serve, and which instance answered.

The database check is one trivial query under a short timeout: a wedged store must turn
the probe red (503) rather than hang it.
"""

from __future__ import annotations

import logging

import anyio
from starlette.requests import Request
from starlette.responses import Response

from kestrad.api.context import api
from kestrad.api.responses import json_response

log = logging.getLogger("kestrad.api.health")
DATABASE_TIMEOUT = 2.0


async def health(request: Request) -> Response:
    ctx = api(request)
    database = "UP"
    try:
        with anyio.fail_after(DATABASE_TIMEOUT):
            await ctx.engine.store.ping()
    except Exception as exc:
        log.warning("health check: database unreachable: %s", exc)
        database = "DOWN"
    up = database == "UP" and not ctx.closing
    body = {
        "status": "UP" if up else "DOWN",
        "database": database,
        "instance": ctx.engine.instance_id,
    }
    if ctx.closing:
        body["stopping"] = True
    return json_response(body, status=200 if up else 503)
