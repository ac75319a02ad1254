"""Expression functions over internal storage: `read()`, `fileSize()`, `fileURI()`.

They check every URI against the namespace of the flow being rendered, so an expression
can only reach files of its own namespace; `..` and other escapes are refused by URI
parsing before any path is built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kestrad.expr.engine import Renderer
from kestrad.expr.errors import FunctionError
from kestrad.storage.local import LocalStorage
from kestrad.storage.uris import (
    SCHEME,
    StorageError,
    StorageURI,
    check_namespace,
    namespace_parts,
    relative_parts,
)

# Same bound as the renderer's output: a file read into an expression must stay small.
READ_LIMIT = 10_000_000


def register(renderer: Renderer, storage: LocalStorage | None = None) -> None:
    """Add the storage functions to `renderer`; without `storage`, the process default."""

    def current() -> LocalStorage:
        if storage is not None:
            return storage
        from kestrad.storage import default_storage

        return default_storage()

    renderer.register_function("read", _read(current), pass_context=True)
    renderer.register_function("fileSize", _file_size(current), pass_context=True)
    renderer.register_function("fileURI", _file_uri, pass_context=True)
    renderer.register_function("fileExists", _file_exists(current), pass_context=True)
    renderer.register_function("isFileEmpty", _is_file_empty(current), pass_context=True)


def _namespace(context: Mapping[str, Any], function: str) -> str:
    flow = context.get("flow")
    namespace = flow.get("namespace") if isinstance(flow, Mapping) else None
    if not isinstance(namespace, str):
        raise FunctionError(f"`{function}` can only be used while running a flow")
    return namespace


def _checked(context: Mapping[str, Any], path: Any, function: str) -> StorageURI:
    """The URI `path` names, refused unless it is in the rendering flow's namespace."""
    namespace = _namespace(context, function)
    if not isinstance(path, str):
        raise FunctionError(f"`{function}` expects a kestra:/// URI, got {type(path).__name__}")
    if not path.startswith(SCHEME):
        raise FunctionError(
            f"`{function}('{path}')`: namespace files are not supported, "
            "pass an internal storage URI (kestra:///…)"
        )
    try:
        uri = StorageURI.parse(path)
        check_namespace(uri, namespace)
    except StorageError as exc:
        raise FunctionError(str(exc)) from None
    return uri


def _read(storage: Callable[[], LocalStorage]) -> Callable[..., str]:
    def read(context: Mapping[str, Any], path: Any = None) -> str:
        """The content of a file of the execution's namespace, as UTF-8 text."""
        uri = _checked(context, path, "read")
        try:
            data = storage().get(uri, limit=READ_LIMIT)
        except StorageError as exc:
            raise FunctionError(str(exc)) from None
        return data.decode("utf-8", errors="replace")

    return read


def _file_size(storage: Callable[[], LocalStorage]) -> Callable[..., int]:
    def fileSize(context: Mapping[str, Any], path: Any = None) -> int:
        """The size in bytes of a file of the execution's namespace."""
        uri = _checked(context, path, "fileSize")
        try:
            return storage().size(uri)
        except StorageError as exc:
            raise FunctionError(str(exc)) from None

    return fileSize


def _file_exists(storage: Callable[[], LocalStorage]) -> Callable[..., bool]:
    def fileExists(context: Mapping[str, Any], path: Any = None) -> bool:
        """Whether a file of the execution's namespace exists (Kestra's fileExists)."""
        return storage().exists(_checked(context, path, "fileExists"))

    return fileExists


def _is_file_empty(storage: Callable[[], LocalStorage]) -> Callable[..., bool]:
    def isFileEmpty(context: Mapping[str, Any], path: Any = None) -> bool:
        """Whether a file of the execution's namespace is empty (Kestra's isFileEmpty)."""
        uri = _checked(context, path, "isFileEmpty")
        try:
            return storage().size(uri) == 0
        except StorageError as exc:
            raise FunctionError(str(exc)) from None

    return isFileEmpty


def _file_uri(context: Mapping[str, Any], path: Any = None) -> str:
    """The URI of a namespace file: `kestra:///<namespace as path>/_files/<path>`."""
    namespace = _namespace(context, "fileURI")
    if isinstance(path, str) and path.startswith(SCHEME):
        return _checked_str(context, path)
    try:
        parts = relative_parts(path.lstrip("/") if isinstance(path, str) else path)
        return str(StorageURI((*namespace_parts(namespace), "_files", *parts)))
    except StorageError as exc:
        raise FunctionError(f"`fileURI`: {exc}") from None


def _checked_str(context: Mapping[str, Any], path: str) -> str:
    return str(_checked(context, path, "fileURI"))
