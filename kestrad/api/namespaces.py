"""Namespaces (search, get) and their files in the internal storage (Kestra's
`NamespaceController` and `NamespaceFileController`).

A namespace exists when a flow lives in it or below it (its parents exist too), or when it
holds files or KV keys. Files: upload (multipart `fileContent`), read, stats, list and make
a directory, move (`from`, `to`), delete.
"""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from kestrad.api.context import api
from kestrad.api.errors import ApiError
from kestrad.api.params import check_params, query_int
from kestrad.api.query_filters import parse_filters
from kestrad.api.responses import json_response
from kestrad.model.query import Resource
from kestrad.runtime.flow_search import compare, namespaces_of
from kestrad.storage import StorageError, default_storage
from kestrad.storage.namespace_files import NamespaceFiles
from kestrad.store.filters import UnsupportedFilter


async def _known(request: Request) -> list[str]:
    """Every namespace of a flow or a KV key, with its parents."""
    engine = api(request).engine
    names = set(namespaces_of(engine.flows.rows()))
    names |= {e.namespace for e in await engine.store.kv_list(None)}
    out: set[str] = set()
    for name in names:
        parts = name.split(".")
        out |= {".".join(parts[:n]) for n in range(1, len(parts) + 1)}
    return sorted(out)


def _namespace_json(name: str) -> dict[str, object]:
    return {"id": name, "deleted": False, "disabled": False}


async def search(request: Request) -> Response:
    check_params(request, {"page", "size", "sort", "q", "existing"})
    query = parse_filters(request.query_params.multi_items(), Resource.NAMESPACE)
    page = query_int(request, "page", 1, low=1, high=1_000_000)
    size = query_int(request, "size", 25, low=1, high=1000)
    text = (request.query_params.get("q") or "").lower()
    chosen = []
    for name in await _known(request):
        try:
            keep = all(
                compare(f.op, name, f.value)
                if f.field == "namespace"
                else str(f.value).lower() in name.lower()
                for f in query.filters
            )
        except UnsupportedFilter as exc:
            raise ApiError(400, f"Invalid query filters: {exc}") from None
        if keep and text in name.lower():
            chosen.append(name)
    results = [_namespace_json(n) for n in chosen[(page - 1) * size : page * size]]
    return json_response({"results": results, "total": len(chosen)})


async def get(request: Request) -> Response:
    check_params(request, set())
    name = request.path_params["namespace"]
    if name not in await _known(request):
        raise ApiError(404, f"Namespace {name} not found", namespace=name)
    return json_response(_namespace_json(name))


# -- files -------------------------------------------------------------------------------------
def _files(request: Request) -> NamespaceFiles:
    try:
        return NamespaceFiles(default_storage(), request.path_params["namespace"])
    except StorageError as exc:
        raise ApiError(400, f"Invalid namespace: {exc}") from None


def _path(request: Request, name: str = "path") -> str:
    value = request.query_params.get(name)
    if value is None:
        raise ApiError(400, f"`{name}` is required")
    return value


def _failure(exc: Exception, path: str) -> ApiError:
    if isinstance(exc, FileNotFoundError):
        return ApiError(404, f"No such namespace file or directory `{path}`", path=path)
    return ApiError(400, f"Invalid namespace file path `{path}`: {exc}", path=path)


async def read(request: Request) -> Response:
    check_params(request, {"path", "revision"})
    path = _path(request)
    try:
        data = _files(request).get(path)
    except (FileNotFoundError, StorageError) as exc:
        raise _failure(exc, path) from None
    return Response(data, media_type="application/octet-stream")


async def stats(request: Request) -> Response:
    check_params(request, {"path"})
    path = request.query_params.get("path") or "/"
    try:
        return json_response(_files(request).stat(path))
    except (FileNotFoundError, StorageError) as exc:
        raise _failure(exc, path) from None


async def list_directory(request: Request) -> Response:
    check_params(request, {"path"})
    path = request.query_params.get("path") or "/"
    try:
        return json_response(_files(request).list(path))
    except (FileNotFoundError, StorageError) as exc:
        raise _failure(exc, path) from None


async def make_directory(request: Request) -> Response:
    check_params(request, {"path"})
    path = _path(request)
    try:
        _files(request).mkdir(path)
    except StorageError as exc:
        raise _failure(exc, path) from None
    return Response(status_code=204)


async def upload(request: Request) -> Response:
    """`POST …/files?path=` with the file as the multipart part `fileContent`."""
    check_params(request, {"path"})
    ctx, path = api(request), _path(request)
    form = await request.form(max_files=1, max_fields=10, max_part_size=ctx.body_limit)
    part = form.get("fileContent")
    if not isinstance(part, UploadFile):
        await form.close()
        raise ApiError(400, "Send the file as the multipart part `fileContent`")
    data = await part.read()
    await form.close()
    try:
        _files(request).put(path, data)
    except StorageError as exc:
        raise _failure(exc, path) from None
    return Response(status_code=204)


async def move(request: Request) -> Response:
    check_params(request, {"from", "to"})
    source, target = _path(request, "from"), _path(request, "to")
    try:
        _files(request).move(source, target)
    except (FileNotFoundError, StorageError) as exc:
        raise _failure(exc, source) from None
    return Response(status_code=204)


async def delete(request: Request) -> Response:
    check_params(request, {"path"})
    path = _path(request)
    try:
        if not _files(request).delete(path):
            raise FileNotFoundError(path)
    except (FileNotFoundError, StorageError) as exc:
        raise _failure(exc, path) from None
    return Response(status_code=204)


async def search_files(request: Request) -> Response:
    """The paths of the namespace's files containing `q` (case-insensitive)."""
    check_params(request, {"q"})
    text = (request.query_params.get("q") or "").lower()
    try:
        paths = _files(request).walk()
    except StorageError as exc:
        raise ApiError(400, f"Invalid namespace: {exc}") from None
    return json_response([p for p in paths if text in p.lower()])
