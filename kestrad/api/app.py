"""The HTTP API as one Starlette app: routes under `/api/v1/main/` and `/api/v1/`.

Kestra moved every path under a tenant segment (`main` in the open-source edition) in
0.23; older clients still call `/api/v1/…`, so both prefixes serve the same routes.
`create_app` only builds the app: the daemon serves it in its own event loop (uvicorn
embedded) and calls `close_streams` before it stops accepting connections.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Receive, Scope, Send

from kestrad.api import execution_actions as actions
from kestrad.api import execution_files as files
from kestrad.api import (
    executions,
    flows,
    health,
    kv,
    log_admin,
    logs,
    metrics,
    misc,
    namespaces,
    task_metrics,
    triggers,
    webhooks,
)
from kestrad.api import flow_bulk as bulk
from kestrad.api import flow_reads as reads
from kestrad.api.auth import BasicAuthMiddleware, route_for
from kestrad.api.context import ApiContext
from kestrad.api.csrf import SameOriginWrites
from kestrad.api.errors import EXCEPTION_HANDLERS, CatchAllMiddleware, error_response
from kestrad.api.executions import invalid_inputs
from kestrad.api.hot import HotRoutes
from kestrad.api.limits import DEFAULT_BODY_LIMIT, DEFAULT_HEADER_LIMIT, LimitsMiddleware
from kestrad.api.metrics import ApiMetrics
from kestrad.api.openapi import openapi_endpoint
from kestrad.api.plugins import list_plugins, plugin_routes
from kestrad.api.webhooks import WebhookIndex
from kestrad.config import Config
from kestrad.model.inputs import InputsInvalid
from kestrad.runtime.engine import Engine, FlowNotFound

_WEBHOOK = "/executions/webhook/{namespace}/{id}/{key:path}"
# Answered without credentials when basic auth is on (see api/auth.py): nothing else is.
OPEN_ENDPOINTS = (webhooks.webhook, health.health, misc.configs)


def api_routes() -> list[Route]:
    """The routes below a prefix; literal paths come before the ones they would shadow."""
    return [
        Route(_WEBHOOK, webhooks.webhook, methods=["GET", "POST", "PUT"]),
        Route("/executions/search", executions.search, methods=["GET"]),
        Route("/executions/by-ids", actions.by_ids, methods=["DELETE"]),
        Route("/executions/by-query", actions.by_query, methods=["DELETE"]),
        Route("/executions/{action}/by-ids", actions.by_ids, methods=["POST", "DELETE"]),
        Route("/executions/{action}/by-query", actions.by_query, methods=["POST", "DELETE"]),
        *[
            Route(f"/executions/{{execution_id}}/actions/{name}", handler, methods=[method])
            for name, handler, method in (
                ("kill", actions.kill, "DELETE"),
                ("restart", actions.restart, "POST"),
                ("replay", actions.replay, "POST"),
                ("replay-with-inputs", actions.replay, "POST"),
                ("resume", actions.resume, "POST"),
                ("pause", actions.pause, "POST"),
                ("labels", actions.set_labels, "POST"),
                ("change-status", actions.change_status, "POST"),
            )
        ],
        Route("/executions", executions.search, methods=["GET"]),
        Route("/executions/{execution_id}/follow", executions.follow, methods=["GET"]),
        Route("/executions/{execution_id}/kill", executions.kill, methods=["DELETE"]),
        Route("/executions/{execution_id}/resume", executions.resume, methods=["POST"]),
        Route("/executions/{execution_id}/approve", executions.approve, methods=["POST"]),
        Route("/executions/{execution_id}/deny", executions.deny, methods=["POST"]),
        # Kestra's older paths of the newer `…/actions/…` routes.
        Route("/executions/{execution_id}/pause", actions.pause, methods=["POST"]),
        Route("/executions/{execution_id}/labels", actions.set_labels, methods=["POST"]),
        Route("/executions/{execution_id}/change-status", actions.change_status, methods=["POST"]),
        Route("/executions/{execution_id}/restart", executions.restart, methods=["POST"]),
        Route("/executions/{execution_id}/replay", executions.replay, methods=["POST"]),
        Route(
            "/executions/{namespace}/{id}/validate", executions.validate_inputs, methods=["POST"]
        ),
        Route("/executions/{namespace}/{id}", executions.create, methods=["POST"]),
        Route("/executions/namespaces", reads.executable_namespaces, methods=["GET"]),
        Route("/executions/latest", reads.latest_executions, methods=["POST"]),
        Route("/executions/namespaces/{namespace}/flows", reads.executable_flows, methods=["GET"]),
        Route("/executions/flows/{namespace}/{id}", reads.flow_for_execution, methods=["GET"]),
        Route("/executions/{execution_id}/flow", reads.execution_flow, methods=["GET"]),
        Route("/executions/{execution_id}/graph", reads.execution_graph, methods=["GET"]),
        Route("/executions/{execution_id}/file", files.download, methods=["GET"]),
        Route("/executions/{execution_id}/file/metas", files.metas, methods=["GET"]),
        Route("/executions/{execution_id}/file/preview", files.preview, methods=["GET"]),
        Route("/executions/{execution_id}", executions.get, methods=["GET"]),
        Route("/executions/{execution_id}", actions.delete, methods=["DELETE"]),
        Route("/metrics/{execution_id}", task_metrics.by_execution, methods=["GET"]),
        Route("/logs/search", log_admin.search, methods=["GET"]),
        Route("/logs/{execution_id}/download", log_admin.download, methods=["GET"]),
        Route("/logs/{execution_id}", log_admin.delete_execution_logs, methods=["DELETE"]),
        Route("/logs/{namespace}/{flow_id}", log_admin.delete_flow_logs, methods=["DELETE"]),
        Route("/kv", kv.search, methods=["GET"]),
        Route("/namespaces/search", namespaces.search, methods=["GET"]),
        Route("/namespaces/{namespace}/files", namespaces.read, methods=["GET"]),
        Route("/namespaces/{namespace}/files", namespaces.upload, methods=["POST"]),
        Route("/namespaces/{namespace}/files", namespaces.move, methods=["PUT"]),
        Route("/namespaces/{namespace}/files", namespaces.delete, methods=["DELETE"]),
        Route("/namespaces/{namespace}/files/stats", namespaces.stats, methods=["GET"]),
        Route("/namespaces/{namespace}/files/search", namespaces.search_files, methods=["GET"]),
        Route(
            "/namespaces/{namespace}/dependencies",
            reads.namespace_dependencies,
            methods=["GET"],
        ),
        Route(
            "/namespaces/{namespace}/files/directory", namespaces.list_directory, methods=["GET"]
        ),
        Route(
            "/namespaces/{namespace}/files/directory", namespaces.make_directory, methods=["POST"]
        ),
        Route("/namespaces/{namespace}", namespaces.get, methods=["GET"]),
        Route("/namespaces/{namespace}/kv", kv.list_namespace, methods=["GET"]),
        Route("/namespaces/{namespace}/kv", kv.delete_values, methods=["DELETE"]),
        Route("/namespaces/{namespace}/kv/inheritance", kv.with_inheritance, methods=["GET"]),
        Route("/namespaces/{namespace}/kv/{key}", kv.get_value, methods=["GET"]),
        Route("/namespaces/{namespace}/kv/{key}", kv.set_value, methods=["PUT"]),
        Route("/namespaces/{namespace}/kv/{key}", kv.delete_value, methods=["DELETE"]),
        Route("/logs/{execution_id}/follow", logs.follow, methods=["GET"]),
        Route("/logs/{execution_id}", logs.list_logs, methods=["GET"]),
        Route("/triggers/search", triggers.search_filtered, methods=["GET"]),
        Route("/triggers/set-disabled", triggers.set_disabled, methods=["PUT"]),
        Route("/triggers/{action}/by-triggers", triggers.bulk_by_triggers, methods=["POST"]),
        Route("/triggers/{action}/by-query", triggers.bulk_by_query, methods=["POST"]),
        Route("/triggers/{namespace}/{flow_id}", triggers.of_flow, methods=["GET"]),
        Route(
            "/triggers/{namespace}/{flow_id}/{trigger_id}/restart",
            triggers.restart,
            methods=["POST"],
        ),
        Route(
            "/triggers/{namespace}/{flow_id}/{trigger_id}/unlock",
            triggers.unlock,
            methods=["POST"],
        ),
        Route(
            "/triggers/{namespace}/{flow_id}/{trigger_id}/backfill",
            triggers.backfill,
            methods=["POST"],
        ),
        Route(
            "/triggers/{namespace}/{flow_id}/{trigger_id}/backfill",
            triggers.backfill_action,
            methods=["DELETE"],
        ),
        Route(
            "/triggers/{namespace}/{flow_id}/{trigger_id}/backfill/{action}",
            triggers.backfill_action,
            methods=["POST"],
        ),
        Route("/flows/validate", flows.validate, methods=["POST"]),
        Route("/flows/search", flows.search, methods=["GET"]),
        Route("/flows", flows.create, methods=["POST"]),
        Route("/flows/graph", reads.graph_from_source, methods=["POST"]),
        Route("/flows/export/by-ids", bulk.export_by_ids, methods=["POST"]),
        Route("/flows/export/by-query", bulk.export_by_query, methods=["GET"]),
        Route("/flows/import", bulk.import_flows, methods=["POST"]),
        Route("/flows/bulk", bulk.bulk_update, methods=["POST"]),
        Route("/flows/{action}/by-ids", bulk.by_ids, methods=["POST", "DELETE"]),
        Route("/flows/{action}/by-query", bulk.by_query, methods=["POST", "DELETE"]),
        Route("/flows/distinct-namespaces", reads.distinct_namespaces, methods=["GET"]),
        Route("/flows/file-problems", reads.file_problems, methods=["GET"]),
        Route("/flows/{namespace}", reads.by_namespace, methods=["GET"]),
        Route("/flows/{namespace}", bulk.bulk_update, methods=["POST"]),
        Route("/flows/{namespace}/{id}/revisions", reads.revisions, methods=["GET"]),
        Route("/flows/{namespace}/{id}/graph", reads.graph, methods=["GET"]),
        Route("/flows/{namespace}/{id}/dependencies", reads.flow_dependencies, methods=["GET"]),
        Route("/flows/{namespace}/{id}/tasks/{task_id}", reads.task, methods=["GET"]),
        Route("/flows/{namespace}/{id}", flows.get, methods=["GET"]),
        Route("/flows/{namespace}/{id}", flows.update, methods=["PUT"]),
        Route("/flows/{namespace}/{id}", flows.delete, methods=["DELETE"]),
    ]


def _webhook(app: Starlette, scope: Scope) -> bool:
    route = route_for(app.router.routes, scope)
    return isinstance(route, Route) and route.endpoint is webhooks.webhook


async def _flow_not_found(request: Request, exc: Exception) -> Response:
    return error_response(404, "Flow not found")


async def _inputs_invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InputsInvalid)
    error = invalid_inputs(exc)
    return error_response(error.status, error.message, **error.extra)


class ApiApp(Starlette):
    """Starlette with the hot routes (api/hot.py) answered before its middleware."""

    hot: HotRoutes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.hot is not None:
            hit = self.hot.match(scope)
            if hit is not None:
                scope["app"] = self
                await self.hot.serve(hit[0], hit[1], scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(
    engine: Engine,
    config: Config | None = None,
    *,
    body_limit: int = DEFAULT_BODY_LIMIT,
    heartbeat: float = 15.0,
    poll_interval: float = 1.0,
    follow_wait: float = 10.0,
    extra_routes: Sequence[BaseRoute] = (),
) -> ApiApp:
    """The API over a running engine; `config` defaults to the engine's configuration.

    `extra_routes` (the web UI's, mounted by the daemon) are served before the API's, behind
    the same basic auth; with them, writes from other sites are refused (api/csrf.py).
    """
    config = config if config is not None else engine.config
    routes = api_routes()
    middleware = [
        Middleware(CatchAllMiddleware),
        Middleware(LimitsMiddleware, body_limit=body_limit),
    ]
    auth = config.server.basic_auth
    if auth.username:
        middleware.append(
            Middleware(
                BasicAuthMiddleware,
                username=auth.username,
                password=auth.password or "",
                routes=lambda: app.router.routes,
                open_endpoints=OPEN_ENDPOINTS,
            )
        )
    if extra_routes:
        middleware.append(Middleware(SameOriginWrites, exempt=lambda scope: _webhook(app, scope)))
    app = ApiApp(
        routes=[
            *extra_routes,
            Route("/health", health.health, methods=["GET"]),
            Route("/metrics", metrics.metrics, methods=["GET"]),
            # Instance-wide routes (no tenant), before the tenant-less alias mount below.
            Route("/api/v1/configs", misc.configs, methods=["GET"]),
            Route("/api/v1/openapi.json", openapi_endpoint(routes), methods=["GET"]),
            Route("/api/v1/pebble/functions", misc.pebble_functions, methods=["GET"]),
            Route("/api/v1/pebble/filters", misc.pebble_filters, methods=["GET"]),
            Route(
                "/api/v1/basicAuthValidationErrors",
                misc.basic_auth_validation_errors,
                methods=["GET"],
            ),
            Route("/api/v1/plugins", list_plugins, methods=["GET"]),
            Mount("/api/v1/plugins", routes=plugin_routes()),
            Mount("/api/v1/main", routes=routes),
            Mount("/api/v1", routes=routes),
        ],
        middleware=middleware,
        exception_handlers={
            **EXCEPTION_HANDLERS,
            FlowNotFound: _flow_not_found,
            InputsInvalid: _inputs_invalid,
        },
    )
    app.hot = HotRoutes.build(
        app.router.routes,
        webhook=webhooks.webhook,
        create=executions.create,
        open_endpoints=OPEN_ENDPOINTS,
        handlers=app.exception_handlers,
        body_limit=body_limit,
        header_limit=DEFAULT_HEADER_LIMIT,
        credentials=f"{auth.username}:{auth.password or ''}".encode() if auth.username else None,
        same_origin_writes=bool(extra_routes),
    )
    app.state.api = ApiContext(
        engine,
        config,
        metrics=ApiMetrics(engine.hub),
        webhooks=WebhookIndex(engine.renderer),
        body_limit=body_limit,
        heartbeat=heartbeat,
        poll_interval=poll_interval,
        follow_wait=follow_wait,
    )
    return app


def close_streams(app: Starlette) -> None:
    """Daemon shutdown: every open SSE stream sends a final event and ends."""
    app.state.api.close_streams()
