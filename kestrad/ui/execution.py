"""One execution: header, actions, and the Gantt, topology, logs and outputs tabs.

The page polls `live` (header, action buttons and the open chart) every second while the
execution is not terminated; the logs tab follows the API's SSE stream from the browser.
Only the actions the engine's rules (runtime/transitions.py) accept in the current state
are offered, and they follow the state as `live` refreshes. Actions are sent by the
browser to the API itself, so a refusal (a page not yet refreshed) shows the API's own
message.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from kestrad.model.execution import Execution
from kestrad.model.state import PAUSED, TERMINATED
from kestrad.runtime import transitions as T
from kestrad.runtime.engine import Engine
from kestrad.storage import StorageError, StorageURI, default_storage, execution_prefix
from kestrad.ui import charts
from kestrad.ui.render import page, seconds_between

TABS = ("gantt", "topology", "logs", "outputs")
PREVIEW_LIMIT = 256 * 1024  # bytes of a text file shown inline


async def execution_page(engine: Engine, request: Request) -> Response:
    return await _render(engine, request, "execution.html")


async def live(engine: Engine, request: Request) -> Response:
    return await _render(engine, request, "execution_live.html")


async def _render(engine: Engine, request: Request, template: str) -> Response:
    execution_id = request.path_params["execution_id"]
    execution = await engine.get_execution(execution_id)
    if execution is None:
        return page(
            request,
            "error.html",
            404,
            title="Execution not found",
            error=f"No execution {execution_id}",
        )
    tab = request.query_params.get("tab", "gantt")
    if tab not in TABS:
        tab = "gantt"
    context: dict[str, Any] = {
        "e": execution,
        "tab": tab,
        "duration": seconds_between(execution.state.start_date, execution.state.end_date),
        "running": execution.state.current not in TERMINATED,
        "paused": execution.state.current == PAUSED,
        "api": f"/api/v1/main/executions/{execution.id}",
        "actions": allowed_actions(execution),
        # The buttons sit above the tabs, outside `live`: its refresh swaps them too.
        "oob_actions": template == "execution_live.html",
    }
    flow = None
    if template == "execution.html":
        context["children"] = await engine.store.executions_triggered_by(execution.id)
        context["task_ids"] = sorted({run.task_id for run in execution.task_run_list})
        if context["paused"]:
            flow = await engine.flows.fetch(
                execution.namespace, execution.flow_id, execution.flow_revision
            )
            context["resume_inputs"] = _resume_inputs(flow, execution)
    if tab == "gantt":
        context["gantt"] = charts.gantt(execution)
    elif tab == "topology":
        flow = flow or await engine.flows.fetch(
            execution.namespace, execution.flow_id, execution.flow_revision
        )
        context["topology"] = charts.topology(flow, execution) if flow is not None else None
    elif tab == "outputs":
        context["outputs"] = _outputs(execution)
    return page(request, template, **context)


def allowed_actions(execution: Execution) -> frozenset[str]:
    """The action buttons to show: those the engine's own rules accept now (the API asks
    the same rules, so a shown button is one the API takes). Replay is offered once the
    execution has ended: replaying a live one would race with itself."""
    checks = {
        "kill": T.KILL.check(execution),
        "resume": T.RESUME.check(execution),
        "pause": T.PAUSE_REQUEST.check(execution),
        "restart": T.RESTART.check(execution),
        "replay": T.REPLAY.check(execution, None),
    }
    allowed = {name for name, refusal in checks.items() if refusal is None}
    if not execution.terminated:
        allowed.discard("replay")
    return frozenset(allowed)


def _resume_inputs(flow: Any, execution: Execution) -> list[dict[str, Any]]:
    """The `onResume` inputs of the paused Pause tasks: the Resume form asks for them."""
    if flow is None:
        return []
    out: list[dict[str, Any]] = []
    for run in execution.task_run_list:
        if run.state.current != PAUSED:
            continue
        task = flow.find_task(run.task_id)
        for item in getattr(task, "on_resume", None) or []:
            if isinstance(item, dict) and item.get("id"):
                out.append(item)
    return out


def _outputs(execution: Execution) -> list[tuple[str, str, Any]]:
    """(task id, task run label, outputs) of every task run that has outputs."""
    out = []
    for run in execution.task_run_list:
        if run.outputs:
            label = run.task_id + (f" [{run.value}]" if run.value is not None else "")
            out.append((run.task_id, label, run.outputs))
    return out


async def file(engine: Engine, request: Request) -> Response:
    """A file of this execution from internal storage: downloaded, or previewed as text.

    Only URIs under the execution's own folder are served: an output names a file, the
    page cannot be used to read another execution's files or anything outside storage.
    """
    execution = await engine.get_execution(request.path_params["execution_id"])
    if execution is None:
        return Response("Execution not found", status_code=404, media_type="text/plain")
    raw = request.query_params.get("uri", "")
    try:
        uri = StorageURI.parse(raw)
        prefix = execution_prefix(execution.namespace, execution.flow_id, execution.id)
    except StorageError as exc:
        return Response(str(exc), status_code=400, media_type="text/plain")
    if not uri.is_under(prefix):
        return Response(
            "This file does not belong to this execution", status_code=403, media_type="text/plain"
        )
    storage = default_storage()
    if not storage.exists(uri):
        return Response("File not found", status_code=404, media_type="text/plain")
    name = uri.parts[-1]
    if request.query_params.get("preview"):
        with storage.open(uri) as handle:
            text = handle.read(PREVIEW_LIMIT).decode("utf-8", errors="replace")
        return page(request, "file_preview.html", name=name, text=text, size=storage.size(uri))
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return FileResponse(storage.path(uri), media_type=media, filename=name)
