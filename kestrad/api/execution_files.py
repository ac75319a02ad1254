"""An execution's files: `GET …/executions/{id}/file?path=kestra:///…` (download),
`…/file/metas` (size) and `…/file/preview` (the first lines as text).

A path outside the execution's own folder of the internal storage is a 404, whatever it
names: one execution's id never opens another's files (Kestra's `validateFile`).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from kestrad.api.context import api
from kestrad.api.errors import ApiError
from kestrad.api.params import check_params, query_int
from kestrad.api.responses import json_response
from kestrad.storage import StorageError, StorageURI, default_storage, execution_prefix

PREVIEW_BYTES = 1024 * 1024
DEFAULT_ROWS = 100


async def _uri(request: Request, allowed: set[str]) -> StorageURI:
    check_params(request, allowed)
    execution_id = request.path_params["execution_id"]
    execution = await api(request).engine.get_execution(execution_id)
    if execution is None:
        raise ApiError(404, "Execution not found", executionId=execution_id)
    raw = request.query_params.get("path")
    if not raw:
        raise ApiError(400, "`path` (a kestra:/// URI of the execution's files) is required")
    try:
        uri = StorageURI.parse(raw)
        prefix = execution_prefix(execution.namespace, execution.flow_id, execution.id)
    except StorageError as exc:
        raise ApiError(400, f"Invalid `path`: {exc}") from None
    if not uri.is_under(prefix) or not default_storage().exists(uri):
        raise ApiError(404, "No such file in this execution", path=raw)
    return uri


async def download(request: Request) -> Response:
    uri = await _uri(request, {"path"})
    data = default_storage().get(uri)
    name = uri.parts[-1].replace('"', "")
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def metas(request: Request) -> Response:
    uri = await _uri(request, {"path"})
    return json_response({"size": default_storage().size(uri)})


async def preview(request: Request) -> Response:
    """Kestra's preview of a text file: `{"extension": …, "content": [lines]}`."""
    uri = await _uri(request, {"path", "maxRows", "encoding"})
    rows = query_int(request, "maxRows", DEFAULT_ROWS, low=1, high=10_000)
    encoding = request.query_params.get("encoding") or "utf-8"
    try:
        text = default_storage().get(uri, limit=PREVIEW_BYTES).decode(encoding, errors="replace")
    except LookupError:
        raise ApiError(400, f"Unknown `encoding` {encoding}") from None
    name = uri.parts[-1]
    extension = name.rsplit(".", 1)[-1] if "." in name else ""
    return json_response(
        {"extension": extension, "content": text.splitlines()[:rows], "type": "TEXT"}
    )
