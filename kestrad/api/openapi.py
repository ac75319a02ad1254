"""kestrad's own OpenAPI document, generated from the routes the app serves (never written by
hand, so it cannot drift): every path under `/api/v1/{tenant}`, its methods, its path
parameters, the handler's docstring as its description. Served at `/api/v1/openapi.json`.

Query parameters and bodies are not declared one by one: each handler names what it takes
and refuses anything else with a 400 (see `api/params.check_params`); the document says so.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kestrad import __version__
from kestrad.api.responses import json_response

_PARAM = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?\}")
ERROR = {
    "type": "object",
    "properties": {"message": {"type": "string"}},
    "required": ["message"],
}


def openapi_document(routes: list[Route], prefix: str = "/api/v1/{tenant}") -> dict[str, Any]:
    """The OpenAPI 3.0 document of `routes`, each path under `prefix`."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        path = prefix + _PARAM.sub(r"{\1}", route.path)
        names = ["tenant", *_PARAM.findall(route.path)]
        entry = paths.setdefault(path, {})
        for method in sorted((route.methods or set()) - {"HEAD"}):
            doc = inspect.getdoc(route.endpoint) or ""
            operation: dict[str, Any] = {
                "operationId": f"{method.lower()}_{route.endpoint.__module__.rsplit('.', 1)[-1]}"
                f"_{route.endpoint.__name__}_{len(paths)}",
                "summary": doc.split("\n", 1)[0] or route.endpoint.__name__,
                "description": doc,
                "parameters": [
                    {
                        "name": name,
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": ["main"]}
                        if name == "tenant"
                        else {"type": "string", "minLength": 1},
                    }
                    for name in names
                ],
                "responses": {
                    "default": {
                        "description": "the result, or an error naming its cause",
                        "content": {"application/json": {"schema": {}}},
                    },
                    "4XX": {
                        "description": "refused: the message says why",
                        "content": {"application/json": {"schema": ERROR}},
                    },
                },
            }
            if method in ("POST", "PUT", "PATCH", "DELETE"):
                operation["requestBody"] = {
                    "required": False,
                    "content": {"application/json": {"schema": {}}},
                }
            entry[method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "kestrad",
            "version": __version__,
            "description": "Kestra's REST API as kestrad serves it (tenant: `main`). "
            "Searches take Kestra's `filters[field][OPERATION]=value`; an unknown "
            "parameter or filter is a 400 that names it.",
        },
        "paths": paths,
    }


def openapi_endpoint(routes: list[Route]) -> Any:
    document = openapi_document(routes)

    async def openapi(request: Request) -> Response:
        """This document."""
        return json_response(document)

    return openapi
