"""The UI's routes, mounted by the daemon in front of the API's (`server.ui`)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from kestrad.runtime.engine import Engine
from kestrad.ui import admin, execution, executions, files, flows

STATIC = Path(__file__).parent / "static"


async def _to_ui(request: Request) -> Response:
    return RedirectResponse("/ui/", status_code=307)


async def _home(request: Request) -> Response:
    return RedirectResponse("/ui/executions", status_code=307)


def ui_routes(engine: Engine) -> list[BaseRoute]:
    """`/` → `/ui/`; every page below `/ui/`, each bound to the engine it reads."""

    def get(path: str, handler: object) -> Route:
        return Route(path, partial(handler, engine), methods=["GET"])  # type: ignore[arg-type]

    def post(path: str, handler: object) -> Route:
        return Route(path, partial(handler, engine), methods=["POST"])  # type: ignore[arg-type]

    pages: list[BaseRoute] = [
        Route("/", _home, methods=["GET"]),
        get("/executions", executions.list_page),
        get("/executions/rows", executions.rows),
        get("/executions/counts", executions.counts),
        get("/executions/{execution_id}", execution.execution_page),
        get("/executions/{execution_id}/live", execution.live),
        get("/executions/{execution_id}/file", execution.file),
        get("/flows", flows.list_page),
        get("/flows/new", flows.new_flow),
        get("/flows/{namespace}/{flow_id}", flows.flow_page),
        get("/triggers", admin.triggers_page),
        Route(
            "/triggers/{namespace}/{flow_id}/{trigger_id}/enable",
            partial(admin.trigger_enabled, engine, True),
            methods=["POST"],
        ),
        Route(
            "/triggers/{namespace}/{flow_id}/{trigger_id}/disable",
            partial(admin.trigger_enabled, engine, False),
            methods=["POST"],
        ),
        get("/kv", admin.kv_page),
        post("/kv", admin.kv_set),
        Route("/kv/{namespace}/{key:path}", partial(admin.kv_delete, engine), methods=["DELETE"]),
        get("/instances", admin.instances_page),
        get("/files", files.files_page),
        get("/files/download", files.download),
        post("/files", files.put),
        Route("/files", partial(files.delete, engine), methods=["DELETE"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    return [Route("/", _to_ui, methods=["GET"]), Mount("/ui", routes=pages)]
