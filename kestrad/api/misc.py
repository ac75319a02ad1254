"""Instance-wide facts Kestra's clients read first: configuration, version, expression
vocabulary. `/api/v1/configs` answers without credentials, as in Kestra, because a UI
reads it before it knows whether to ask for them; it carries nothing secret."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from kestrad import __version__
from kestrad.api.context import api
from kestrad.api.responses import json_response

SYSTEM_NAMESPACE = "system"


async def configs(request: Request) -> Response:
    ctx = api(request)
    return json_response(
        {
            "version": __version__,
            "edition": "OSS",
            "commitId": None,
            "commitDate": None,
            "isCustomDashboardsEnabled": False,
            "isAnonymousUsageEnabled": False,
            "isUiAnonymousUsageEnabled": False,
            "isAiEnabled": False,
            "isBasicAuthInitialized": bool(ctx.config.server.basic_auth.username),
            "systemNamespace": SYSTEM_NAMESPACE,
            "hiddenLabelsPrefixes": ["system."],
            "preview": {"initial": 100, "max": 5000},
            "url": None,
        }
    )


async def pebble_functions(request: Request) -> Response:
    names = api(request).engine.renderer.function_names()
    return json_response([{"name": name} for name in names])


async def pebble_filters(request: Request) -> Response:
    return json_response(api(request).engine.renderer.filter_names())


async def basic_auth_validation_errors(request: Request) -> Response:
    """Credentials are set in kestrad.yml and checked at start: nothing to report here."""
    return json_response([])
