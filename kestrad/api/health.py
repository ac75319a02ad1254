"""`GET /health`: is this daemon able to serve, and which instance answered.

The database check is one committed write (this instance's heartbeat, see
Store.ping_write) under a short timeout: a store that answers reads but cannot write — a
full disk, a SQLite file deleted under the daemon — must turn the probe red (503) too,
and a wedged one must not hang it. An unreachable database is reported to the
store's outage record (store/outage.py), so a probe every few seconds during an outage
adds no log line beyond the one WARNING the outage already gets.
"""

from __future__ import annotations

import logging

import anyio
from starlette.requests import Request
from starlette.responses import Response

from kestrad.api.context import api
from kestrad.api.responses import json_response
from kestrad.store.outage import describe, is_unavailable, outage_of

log = logging.getLogger("kestrad.api.health")
DATABASE_TIMEOUT = 2.0


async def health(request: Request) -> Response:
    ctx = api(request)
    store = ctx.engine.store
    outage = outage_of(store)
    problem = ""
    try:
        with anyio.fail_after(DATABASE_TIMEOUT):
            await store.ping_write(ctx.engine.instance_id)
    except Exception as exc:
        if is_unavailable(exc):
            outage.failed(exc, "answering GET /health")
            why = describe(exc) if str(exc) else f"no answer within {DATABASE_TIMEOUT:g}s"
            problem = f"the database is unreachable or cannot write: {why}"
        else:
            log.warning("health check: the database check failed: %s", describe(exc))
            problem = f"the database check failed: {describe(exc)}"
    else:
        outage.recovered()
    up = not problem and not ctx.closing
    body: dict[str, object] = {
        "status": "UP" if up else "DOWN",
        "database": "DOWN" if problem else "UP",
        "instance": ctx.engine.instance_id,
    }
    if problem:
        body["message"] = problem
        if outage.down:
            body["databaseDownSince"] = outage.since_iso()
    if ctx.closing:
        body["stopping"] = True
    return json_response(body, status=200 if up else 503)
