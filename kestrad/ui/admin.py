"""Triggers, the KV store and the daemons sharing the database.

Trigger enable/disable and KV writes have no API route yet, so these pages post to UI
routes of their own; they answer errors as the API does (`{"message": …}`), run the same
runtime commands the API's routes use, and are guarded like every write
(api/csrf.py: same origin only, behind the same basic auth).
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from kestrad.flows.checks import NAMESPACE, NAMESPACE_MAX
from kestrad.model.kv import KV_TYPES, KVError, check_key, decode_value
from kestrad.runtime.commands.triggers import TriggerCommandError, TriggerCommands
from kestrad.runtime.engine import Engine
from kestrad.tasks.services import ServiceError
from kestrad.ui.render import page

MAX_KV_FORM = 1024 * 1024


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


def _within(namespace: str, wanted: str) -> bool:
    return not wanted or namespace == wanted or namespace.startswith(wanted + ".")


# -- triggers ---------------------------------------------------------------------------------
async def triggers_page(engine: Engine, request: Request) -> Response:
    wanted = (request.query_params.get("namespace") or "").strip()
    rows = await engine.store.list_triggers(limit=10_000)
    scheduler = engine.scheduler
    if scheduler is not None:  # the leader's live states are newer than the stored ones
        rows = [scheduler.state(row.key) or row for row in rows]
    rows = sorted(
        (r for r in rows if _within(r.namespace, wanted)),
        key=lambda r: (r.namespace, r.flow_id, r.trigger_id),
    )
    return page(request, "triggers.html", rows=rows, namespace=wanted)


async def trigger_enabled(engine: Engine, enabled: bool, request: Request) -> Response:
    """POST …/enable or …/disable: the runtime command the scheduler applies."""
    params = request.path_params
    key = (params["namespace"], params["flow_id"], params["trigger_id"])
    try:
        outcome = await TriggerCommands(engine.store, engine.scheduler).set_enabled(key, enabled)
    except TriggerCommandError as exc:
        return _error(404, str(exc))
    return JSONResponse({"message": outcome.message, "disabled": outcome.row.disabled})


# -- KV store ---------------------------------------------------------------------------------
async def kv_page(engine: Engine, request: Request) -> Response:
    wanted = (request.query_params.get("namespace") or "").strip()
    now = time.time()
    entries = [
        e
        for e in await engine.store.kv_list(None)
        if _within(e.namespace, wanted) and not e.expired(now)
    ]
    entries.sort(key=lambda e: (e.namespace, e.key))
    shown = [(e, _preview(e)) for e in entries[:1000]]
    return page(
        request,
        "kv.html",
        entries=shown,
        total=len(entries),
        namespace=wanted,
        kv_types=KV_TYPES,
    )


def _preview(entry: Any) -> str:
    try:
        value = decode_value(entry)
    except (ValueError, KVError):
        return entry.value
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 300 else text[:300] + "…"


async def kv_set(engine: Engine, request: Request) -> Response:
    """Form fields namespace, key, type, value, ttl (ISO-8601 duration), description."""
    form = await request.form(max_fields=20, max_files=0, max_part_size=MAX_KV_FORM)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    namespace = fields.get("namespace", "").strip()
    if not NAMESPACE.match(namespace) or len(namespace) > NAMESPACE_MAX:
        return _error(422, f"namespace `{namespace}` must match `{NAMESPACE.pattern}`")
    try:
        key = check_key(fields.get("key", "").strip())
        await engine.services.kv_set(
            namespace,
            key,
            fields.get("value", ""),
            kv_type=fields.get("type") or "STRING",
            ttl=fields.get("ttl") or None,
            description=fields.get("description") or None,
        )
    except (KVError, ServiceError, ValueError) as exc:
        return _error(422, str(exc))
    return JSONResponse({"message": f"{namespace}/{key} saved"})


async def kv_delete(engine: Engine, request: Request) -> Response:
    namespace, key = request.path_params["namespace"], request.path_params["key"]
    if not await engine.services.kv_delete(namespace, key):
        return _error(404, f"No key {key} in namespace {namespace}")
    return JSONResponse({"message": f"{namespace}/{key} deleted"})


# -- instances --------------------------------------------------------------------------------
async def instances_page(engine: Engine, request: Request) -> Response:
    rows = await engine.store.list_instances()
    jobs = {row.id: await engine.store.count_worker_claims(row.id) for row in rows}
    lease = await engine.store.scheduler_lease_holder()
    return page(
        request,
        "instances.html",
        rows=rows,
        jobs=jobs,
        leader=lease[0] if lease else None,
        now=time.time(),
        me=engine.instance_id,
    )
