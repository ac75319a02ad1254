"""`kestra:///…` URIs: parsing, Kestra's path layout, and the checks that keep paths safe.

A URI is only ever turned into a path through `StorageURI.parts`, which refuses `..`,
empty segments, backslashes and NUL bytes, so no caller can build a path that escapes the
storage root however the URI was written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

SCHEME = "kestra://"


class StorageError(Exception):
    """A refused or impossible storage operation; the message is shown to the flow author."""


class StorageURI:
    """A parsed `kestra:///a/b/c` URI: its path segments, validated."""

    __slots__ = ("parts",)

    def __init__(self, parts: tuple[str, ...]) -> None:
        for part in parts:
            check_segment(part)
        if not parts:
            raise StorageError("an internal storage URI needs a path")
        self.parts = parts

    @classmethod
    def parse(cls, uri: Any) -> StorageURI:
        """Parse `kestra:///path`; anything else (or a path with `..`) is refused."""
        if isinstance(uri, StorageURI):
            return uri
        if not isinstance(uri, str) or not uri.startswith(SCHEME):
            raise StorageError(f"`{uri}` is not an internal storage URI (kestra:///…)")
        rest = uri[len(SCHEME) :]
        if not rest.startswith("/"):
            # `kestra://host/path` would silently drop `host`: refuse it instead.
            raise StorageError(f"`{uri}` must start with kestra:/// (three slashes)")
        if "?" in rest or "#" in rest:
            raise StorageError(f"`{uri}` must not have a query or fragment")
        segments = rest.strip("/").split("/")
        return cls(tuple(unquote(s) for s in segments))

    def __str__(self) -> str:
        return SCHEME + "/" + "/".join(self.parts)

    def __repr__(self) -> str:
        return f"StorageURI({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StorageURI) and other.parts == self.parts

    def __hash__(self) -> int:
        return hash(self.parts)

    def child(self, *relative: str) -> StorageURI:
        """This URI with more segments; each `relative` may hold `/` separators."""
        extra: list[str] = []
        for item in relative:
            extra.extend(relative_parts(item))
        return StorageURI((*self.parts, *extra))

    def is_under(self, prefix: tuple[str, ...]) -> bool:
        return self.parts[: len(prefix)] == prefix and len(self.parts) > len(prefix)


def check_segment(part: str) -> None:
    """One path segment: never `.`/`..`, empty, or with separators or NUL bytes."""
    if part in ("", ".", ".."):
        raise StorageError(f"path segment `{part}` is not allowed in an internal storage path")
    if "/" in part or "\\" in part or "\x00" in part:
        raise StorageError(f"path segment `{part}` holds a forbidden character")


def relative_parts(path: str) -> tuple[str, ...]:
    """Split a relative path (`dir/file.txt`) into checked segments; absolute is refused."""
    if not isinstance(path, str) or not path:
        raise StorageError("a file name must be a non-empty string")
    if path.startswith("/") or "\\" in path:
        raise StorageError(f"`{path}` must be a relative path")
    parts = tuple(p for p in path.split("/") if p not in ("", "."))
    if not parts:
        raise StorageError(f"`{path}` names no file")
    for part in parts:
        check_segment(part)
    return parts


def namespace_parts(namespace: str) -> tuple[str, ...]:
    """`company.team` → (`company`, `team`): Kestra stores a namespace as nested folders."""
    parts = tuple(namespace.split("."))
    for part in parts:
        check_segment(part)
    return parts


def execution_prefix(namespace: str, flow_id: str, execution_id: str) -> tuple[str, ...]:
    """`<namespace as path>/<flowId>/executions/<executionId>`: all of one execution's files."""
    parts = (*namespace_parts(namespace), flow_id, "executions", execution_id)
    for part in parts:
        check_segment(part)
    return parts


def task_run_uri(
    namespace: str, flow_id: str, execution_id: str, task_id: str, task_run_id: str
) -> StorageURI:
    """`kestra:///<ns>/<flow>/executions/<exec>/tasks/<task>/<taskRun>`: a task run's folder."""
    prefix = execution_prefix(namespace, flow_id, execution_id)
    return StorageURI((*prefix, "tasks", task_id, task_run_id))


def task_run_uri_from(variables: Mapping[str, Any]) -> StorageURI:
    """The task run folder from a task's render variables (flow, execution, task, taskrun)."""
    try:
        return task_run_uri(
            variables["flow"]["namespace"],
            variables["flow"]["id"],
            variables["execution"]["id"],
            variables["task"]["id"],
            variables["taskrun"]["id"],
        )
    except (KeyError, TypeError) as exc:
        raise StorageError(f"no task run to store files for (missing {exc})") from None


def check_namespace(uri: StorageURI, namespace: str) -> None:
    """Refuse a URI outside `namespace` (or its child namespaces), as Kestra does."""
    if not uri.is_under(namespace_parts(namespace)):
        raise StorageError(
            f"`{uri}` does not belong to namespace `{namespace}`: "
            "only files of the execution's own namespace can be read"
        )
