"""`/api/v1/plugins…`: the task, trigger and condition types kestrad knows, with schemas.

Kestra's editors and its SDK read these to complete and check flows. Every schema comes
from `flows/schema.py`, generated from the classes the loader converts flows into. These
routes are instance-wide (no tenant in the path), as in Kestra.
"""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kestrad import __version__
from kestrad.api.errors import ApiError
from kestrad.api.params import query_flag, query_int
from kestrad.api.responses import json_response
from kestrad.flows.schema import (
    SchemaType,
    catalog,
    documentation,
    input_types,
    schema_for,
    trigger_types,
)

# Schemas change only with the installed code: let clients keep them a while.
_CACHE = {"Cache-Control": "public, max-age=3600"}


async def list_plugins(request: Request) -> Response:
    groups = msgspec.to_builtins(catalog())
    page, size = _paging(request)
    return json_response({"results": groups[(page - 1) * size : page * size], "total": len(groups)})


async def list_triggers(request: Request) -> Response:
    names = sorted(trigger_types())
    page, size = _paging(request)
    results = [
        {"cls": name, "title": name.rsplit(".", 1)[1], "category": "TRIGGER"} for name in names
    ]
    return json_response(
        {"results": results[(page - 1) * size : page * size], "total": len(results)}
    )


async def subgroups(request: Request) -> Response:
    return json_response(msgspec.to_builtins(catalog()))


async def schema(request: Request) -> Response:
    raw = request.path_params["schema_type"].upper()
    try:
        kind = SchemaType(raw)
    except ValueError:
        known = ", ".join(t.value for t in SchemaType)
        raise ApiError(404, f"No schema of type `{raw}` (kestrad serves {known})") from None
    array_of = query_flag(request, "arrayOf")
    return json_response(schema_for(kind, array_of=array_of), headers=_CACHE)


async def properties(request: Request) -> Response:
    raw = request.path_params["schema_type"].upper()
    try:
        kind = SchemaType(raw)
    except ValueError:
        raise ApiError(404, f"No schema of type `{raw}`") from None
    found = schema_for(kind)
    return json_response(
        {"properties": found.get("properties", {}), "$defs": found.get("$defs", {})}
    )


async def plugin(request: Request) -> Response:
    doc = documentation(request.path_params["cls"])
    if doc is None:
        raise ApiError(404, f"No plugin type `{request.path_params['cls']}`")
    return json_response(doc, headers=_CACHE)


async def versions(request: Request) -> Response:
    cls = request.path_params["cls"]
    if documentation(cls) is None:
        raise ApiError(404, f"No plugin type `{cls}`")
    return json_response({"type": cls, "versions": [__version__]})


async def plugin_version(request: Request) -> Response:
    if request.path_params["version"] not in (__version__, "latest"):
        raise ApiError(404, f"kestrad has only version {__version__} of each plugin")
    return await plugin(request)


async def inputs(request: Request) -> Response:
    return json_response([{"type": name, "cls": name} for name in input_types()])


async def input_schema(request: Request) -> Response:
    name = request.path_params["input_type"].upper()
    if name not in input_types():
        raise ApiError(404, f"No input type `{name}`")
    flow = schema_for(SchemaType.FLOW)
    item = flow.get("$defs", {}).get("Input", {})
    return json_response({"markdown": f"# {name}\n", "schema": item})


async def icons(request: Request) -> Response:
    """kestrad ships no icons: an empty map, which Kestra's clients accept."""
    return json_response({})


def _paging(request: Request) -> tuple[int, int]:
    page = query_int(request, "page", 1, low=1, high=1_000_000)
    size = query_int(request, "size", 10_000, low=1, high=10_000)
    return page, size


def plugin_routes() -> list[Route]:
    """Literal paths before the `{cls}` ones they would otherwise be read as."""
    return [
        Route("/", list_plugins, methods=["GET"]),
        Route("/triggers", list_triggers, methods=["GET"]),
        Route("/groups/subgroups", subgroups, methods=["GET"]),
        Route("/schemas/{schema_type}", schema, methods=["GET"]),
        Route("/properties/{schema_type}", properties, methods=["GET"]),
        Route("/inputs", inputs, methods=["GET"]),
        Route("/inputs/{input_type}", input_schema, methods=["GET"]),
        Route("/icons", icons, methods=["GET"]),
        Route("/icons/groups", icons, methods=["GET"]),
        Route("/{cls}/versions", versions, methods=["GET"]),
        Route("/{cls}/versions/{version}", plugin_version, methods=["GET"]),
        Route("/{cls}", plugin, methods=["GET"]),
    ]
