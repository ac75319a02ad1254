"""`io.kestra.plugin.core.namespace.*`: namespace files from a flow: UploadFiles,
DownloadFiles, DeleteFiles; and `namespaceFiles` on script tasks (`copy_namespace_files`).

Namespace files live in the internal storage (`storage/namespace_files.py`), the same ones
the API's `namespaces/{ns}/files` serves. Patterns are Kestra's globs over paths that
start with `/`: `*` stays within a folder, `**` crosses folders (`**.py` is every Python
file). File work runs in a worker thread.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import anyio

from kestrad.storage import StorageError, StorageURI
from kestrad.storage.namespace_files import NamespaceFiles
from kestrad.tasks.base import RunnableTask, TaskFailed
from kestrad.tasks.context import RunContext
from kestrad.tasks.props import Data, TextList
from kestrad.tasks.registry import register

_CORE = "io.kestra.plugin.core.namespace."


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Kestra's glob (Java's `glob:` syntax after a leading `/`) as a regular expression."""
    text = pattern if pattern.startswith("/") else "/" + pattern
    out, i = [], 0
    while i < len(text):
        char = text[i]
        if text.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + r"\Z")


def _patterns(ctx: RunContext, value: Any, what: str) -> list[re.Pattern[str]]:
    rendered = ctx.render_typed(value)
    if isinstance(rendered, str):
        rendered = [rendered]
    if not isinstance(rendered, list) or not rendered:
        raise TaskFailed(f"`{what}` must be a pattern or a non-empty list of patterns")
    return [glob_regex(str(p)) for p in rendered]


def _namespace(ctx: RunContext, value: str) -> NamespaceFiles:
    try:
        return NamespaceFiles(ctx.storage, ctx.render(value))
    except StorageError as exc:
        raise TaskFailed(f"`namespace`: {exc}") from None


async def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return await anyio.to_thread.run_sync(fn, *args)
    except StorageError as exc:
        raise TaskFailed(str(exc)) from None


@register(_CORE + "UploadFiles")
class UploadFiles(RunnableTask, kw_only=True):
    """Files into a namespace: `files` a map of destination path → `kestra:///` URI, or a
    list of URIs put under `destination`; `conflict` OVERWRITE, ERROR or SKIP."""

    namespace: str
    files: Data  # a map of path → URI, a list of URIs, or an expression rendering to one
    destination: str = "/"
    conflict: Literal["OVERWRITE", "ERROR", "SKIP"] = "OVERWRITE"

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        target = _namespace(ctx, self.namespace)
        files = ctx.render_typed(self.files)
        destination = ctx.render(self.destination)
        pairs: list[tuple[str, StorageURI]] = []
        try:
            if isinstance(files, dict):
                pairs = [(str(k), StorageURI.parse(str(v))) for k, v in files.items()]
            elif isinstance(files, list):
                for item in files:
                    uri = StorageURI.parse(str(item))
                    pairs.append((destination.rstrip("/") + "/" + uri.parts[-1], uri))
            else:
                raise TaskFailed("`files` must be a map of path to URI or a list of URIs")
        except StorageError as exc:
            raise TaskFailed(
                f"`files`: {exc} (working-directory globs are not supported)"
            ) from None
        storage = ctx.storage

        def upload() -> dict[str, str]:
            done: dict[str, str] = {}
            for path, uri in pairs:
                if not storage.exists(uri):
                    continue  # Kestra skips a missing source
                if target.location(path).exists():
                    if self.conflict == "SKIP":
                        continue
                    if self.conflict == "ERROR":
                        raise StorageError(f"namespace file {path} already exists")
                target.put(path, storage.get(uri))
                done[path] = str(target.uri(path))
            return done

        return {"files": await _in_thread(upload)}


@register(_CORE + "DownloadFiles")
class DownloadFiles(RunnableTask, kw_only=True):
    """Namespace files matching `files` copied into this task run's storage; outputs
    `files`: path → `kestra:///` URI."""

    namespace: str
    files: TextList

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        source = _namespace(ctx, self.namespace)
        patterns = _patterns(ctx, self.files, "files")
        storage, base = ctx.storage, ctx.task_run_uri()

        def download() -> dict[str, str]:
            out: dict[str, str] = {}
            for path in source.walk():
                if any(p.match(path) for p in patterns):
                    uri = base.child(path.lstrip("/"))
                    storage.put(uri, source.get(path))
                    out[path] = str(uri)
            return out

        files = await _in_thread(download)
        ctx.logger.log("DEBUG", f"downloaded {len(files)} namespace file(s)")
        return {"files": files}


@register(_CORE + "DeleteFiles")
class DeleteFiles(RunnableTask, kw_only=True):
    """Namespace files matching `files` deleted; outputs `files`: the deleted paths."""

    namespace: str
    files: TextList

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        target = _namespace(ctx, self.namespace)
        patterns = _patterns(ctx, self.files, "files")

        def delete() -> list[str]:
            gone = [p for p in target.walk() if any(r.match(p) for r in patterns)]
            for path in gone:
                target.delete(path)
            return gone

        return {"files": await _in_thread(delete)}


def copy_namespace_files(
    storage: Any, namespace: str, workdir: Path, include: list[str], exclude: list[str]
) -> int:
    """The namespace's files (those `include` matches and `exclude` does not; all when no
    `include`) copied into `workdir` at their paths; how many. Runs in a thread."""
    files = NamespaceFiles(storage, namespace)
    wanted = [glob_regex(p) for p in include]
    unwanted = [glob_regex(p) for p in exclude]
    count = 0
    for path in files.walk():
        if wanted and not any(p.match(path) for p in wanted):
            continue
        if any(p.match(path) for p in unwanted):
            continue
        target = workdir.joinpath(*[part for part in path.split("/") if part])
        if not target.resolve().is_relative_to(workdir.resolve()):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(files.get(path))
        count += 1
    return count
