"""Namespace files: browse a namespace's folder, view a file, upload or write one, delete.

They live in internal storage at `kestra:///<namespace as folders>/_files/<path>`, where
flows read them (`read()`, `namespaceFiles`). Every name goes through the storage's URI
checks (no `..`, no absolute paths, nothing that resolves outside the storage root), and
a namespace is only ever its own folders: `a.b` cannot reach `a`'s files.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from kestrad.flows.checks import NAMESPACE, NAMESPACE_MAX
from kestrad.runtime.engine import Engine
from kestrad.storage import StorageError, StorageURI, default_storage
from kestrad.storage.uris import namespace_parts, relative_parts
from kestrad.ui.render import page

PREVIEW_LIMIT = 256 * 1024
MAX_UPLOAD = 50 * 1024 * 1024


@dataclass
class Entry:
    name: str
    path: str  # relative to the namespace's `_files`
    folder: bool
    size: int


def _uri(namespace: str, path: str = "") -> StorageURI:
    if not NAMESPACE.match(namespace) or len(namespace) > NAMESPACE_MAX:
        raise StorageError(f"namespace `{namespace}` must match `{NAMESPACE.pattern}`")
    parts = (*namespace_parts(namespace), "_files")
    if path.rstrip("/"):  # a folder may end in `/`; an absolute path is refused
        parts = (*parts, *relative_parts(path.rstrip("/")))
    return StorageURI(parts)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


async def files_page(engine: Engine, request: Request) -> Response:
    namespace = (request.query_params.get("namespace") or "").strip()
    path = (request.query_params.get("path") or "").rstrip("/")
    context: dict[str, object] = {"namespace": namespace, "path": path, "entries": []}
    if not namespace:
        return page(request, "files.html", **context)
    storage = default_storage()
    try:
        target = storage.path(_uri(namespace, path))
    except StorageError as exc:
        return page(request, "files.html", 400, error=str(exc), **context)
    if target.is_file():
        with target.open("rb") as handle:
            data = handle.read(PREVIEW_LIMIT)
        context.update(
            file=True, text=data.decode("utf-8", errors="replace"), size=target.stat().st_size
        )
        return page(request, "files.html", **context)
    entries = []
    if target.is_dir():
        for child in sorted(target.iterdir(), key=lambda p: (p.is_file(), p.name)):
            if child.name.startswith(".") or child.is_symlink():
                continue  # temporary files of an atomic write; links are never followed
            relative = f"{path}/{child.name}" if path else child.name
            size = child.stat().st_size if child.is_file() else 0
            entries.append(Entry(child.name, relative, child.is_dir(), size))
    context["entries"] = entries
    return page(request, "files.html", **context)


async def download(engine: Engine, request: Request) -> Response:
    namespace = request.query_params.get("namespace") or ""
    path = request.query_params.get("path") or ""
    try:
        target = default_storage().path(_uri(namespace, path))
    except StorageError as exc:
        return Response(str(exc), status_code=400, media_type="text/plain")
    if not target.is_file():
        return Response("File not found", status_code=404, media_type="text/plain")
    return FileResponse(target, filename=target.name)


async def put(engine: Engine, request: Request) -> Response:
    """Multipart: namespace, path, and either a `file` part or `content` text."""
    form = await request.form(max_files=1, max_fields=10, max_part_size=MAX_UPLOAD)
    namespace = str(form.get("namespace") or "").strip()
    path = str(form.get("path") or "").strip()
    upload = form.get("file")
    try:
        if isinstance(upload, UploadFile) and upload.filename:
            if not path or path.endswith("/"):
                path = path + upload.filename
            data: bytes | str = await upload.read()
        else:
            data = str(form.get("content") or "")
        if not namespace or not path:
            return _error(422, "namespace and path are required")
        uri = _uri(namespace, path)
        default_storage().put(uri, data)
    except StorageError as exc:
        return _error(422, str(exc))
    finally:
        await form.close()
    return JSONResponse({"message": f"{namespace}: {path} saved", "path": path})


async def delete(engine: Engine, request: Request) -> Response:
    namespace = request.query_params.get("namespace") or ""
    path = request.query_params.get("path") or ""
    try:
        uri = _uri(namespace, path)
        if not path.rstrip("/") or not default_storage().delete(uri):
            return _error(404, f"No file {path} in namespace {namespace}")
    except StorageError as exc:
        return _error(422, str(exc))
    return JSONResponse({"message": f"{namespace}: {path} deleted"})
