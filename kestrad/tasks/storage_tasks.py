"""`io.kestra.plugin.core.storage.*`: file utilities on internal storage (`kestra:///`).

Every URI a task reads must belong to the flow's own namespace (as `read()` requires), and
every file a task writes goes under its own task run folder. Items files (FilterItems,
DeduplicateItems) are JSON lines, one object per line, where Kestra uses ION; the per-item
expression sees the item's fields as variables, next to the usual ones. File work runs in
a worker thread so a large file never blocks the event loop.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Literal

import anyio
import msgspec

from kestrad.expr.engine import ExpressionError, truthy
from kestrad.model.ids import new_id
from kestrad.storage import StorageError, StorageURI, check_namespace, execution_prefix
from kestrad.tasks.base import RunnableTask, TaskFailed
from kestrad.tasks.context import RunContext
from kestrad.tasks.props import Bool, Int, TextList
from kestrad.tasks.registry import register

_CORE = "io.kestra.plugin.core.storage."
_LEGACY = "io.kestra.core.tasks.storages."
_SIZES = {"": 1, "B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def _source(ctx: RunContext, value: Any, what: str) -> StorageURI:
    """The rendered URI of a file this task may read (the flow's namespace only)."""
    rendered = ctx.render(value)
    try:
        uri = StorageURI.parse(rendered)
        check_namespace(uri, ctx.variables["flow"]["namespace"])
    except StorageError as exc:
        raise TaskFailed(f"`{what}`: {exc}") from None
    return uri


async def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return await anyio.to_thread.run_sync(fn, *args)
    except StorageError as exc:
        raise TaskFailed(str(exc)) from None


def _output(ctx: RunContext, name: str) -> StorageURI:
    return ctx.task_run_uri().child(name)


def _suffix(uri: StorageURI) -> str:
    name = uri.parts[-1]
    return name[name.rindex(".") :] if "." in name.lstrip(".") else ""


@register(_CORE + "Concat", _LEGACY + "Concat")
class Concat(RunnableTask, kw_only=True):
    """Concatenates files, in order, each followed by `separator` when set."""

    files: TextList
    separator: str | None = None
    extension: str = ".tmp"

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        files = ctx.render_typed(self.files) if isinstance(self.files, str) else self.files
        if isinstance(files, str):
            try:
                files = json.loads(files)
            except ValueError:
                raise TaskFailed("`files` must be a list or a JSON list of URIs") from None
        if not isinstance(files, list):
            raise TaskFailed("`files` must be a list or a JSON list of URIs")
        sources = [_source(ctx, f, "files") for f in files]
        separator = ctx.render(self.separator).encode() if self.separator is not None else b""
        extension = ctx.render(self.extension)
        name = "concat" + (extension if extension.startswith(".") else f".{extension}")
        target = _output(ctx, name)
        storage = ctx.storage

        def concat() -> None:
            chunks = []
            for uri in sources:
                chunks.append(storage.get(uri))
                chunks.append(separator)
            storage.put(target, b"".join(chunks))

        await _in_thread(concat)
        return {"uri": str(target)}


@register(_CORE + "Delete", _LEGACY + "Delete")
class Delete(RunnableTask, kw_only=True):
    """Deletes one file; a missing file is an error only with `errorOnMissing`."""

    uri: str
    error_on_missing: bool = False

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        uri = _source(ctx, self.uri, "uri")
        deleted = await _in_thread(ctx.storage.delete, uri)
        if not deleted and self.error_on_missing:
            raise TaskFailed(f"Unable to find file '{uri}'")
        return {"uri": str(uri), "deleted": deleted}


@register(_CORE + "Size", _LEGACY + "Size")
class Size(RunnableTask, kw_only=True):
    """The size of a file in bytes."""

    uri: str

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        return {"size": await _in_thread(ctx.storage.size, _source(ctx, self.uri, "uri"))}


def parse_bytes(text: Any) -> int:
    """`1024`, `10KB`, `5MB`, `1GB` (binary multiples, like Kestra's DataSize)."""
    match = re.fullmatch(r"\s*(\d+)\s*([KMGT]?B?)\s*", str(text).upper())
    if match is None or int(match.group(1)) <= 0:
        raise TaskFailed(f"`bytes`: `{text}` is not a size (e.g. 1024, 10KB, 5MB)")
    unit = match.group(2)
    unit = unit if unit.endswith("B") or not unit else unit + "B"
    return int(match.group(1)) * _SIZES[unit]


@register(_CORE + "Split", _LEGACY + "Split")
class Split(RunnableTask, kw_only=True):
    """Splits a file into several by `bytes`, `rows` per file, or `partitions` files.

    Rows are the parts between `separator`s; a split never cuts a row, so a file may
    exceed `bytes` when one row alone does. Partitions deal rows round-robin.
    """

    from_: str = msgspec.field(name="from")
    bytes: str | None = None
    rows: Int | None = None
    partitions: Int | None = None
    separator: str = "\n"

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        source = _source(ctx, self.from_, "from")
        modes = [m for m in ("bytes", "rows", "partitions") if getattr(self, m) is not None]
        if len(modes) != 1:
            raise TaskFailed("set exactly one of `bytes`, `rows` or `partitions`")
        mode = modes[0]
        raw = ctx.render(getattr(self, mode))
        limit = parse_bytes(raw) if mode == "bytes" else _positive(raw, mode)
        separator = ctx.render(self.separator).encode()
        storage, base, suffix = ctx.storage, ctx.task_run_uri(), _suffix(source)

        def split() -> list[str]:
            rows = _rows(storage.get(source), separator)
            groups = _group(rows, mode, limit, len(separator))
            uris = []
            for index, group in enumerate(groups):
                target = base.child(f"split-{index}{suffix}")
                storage.put(target, b"".join(row + separator for row in group))
                uris.append(str(target))
            return uris

        return {"uris": await _in_thread(split)}


def _positive(value: Any, what: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number <= 0:
        raise TaskFailed(f"`{what}` must be a positive integer, got `{value}`")
    return number


def _rows(data: bytes, separator: bytes) -> list[bytes]:
    rows = data.split(separator) if separator else [data]
    if rows and rows[-1] == b"":
        rows.pop()  # a trailing separator ends the last row, it does not start another
    return rows


def _group(rows: list[bytes], mode: str, limit: int, sep: int) -> list[list[bytes]]:
    if mode == "rows":
        return [rows[i : i + limit] for i in range(0, len(rows), limit)]
    if mode == "partitions":
        groups: list[list[bytes]] = [[] for _ in range(limit)]
        for index, row in enumerate(rows):
            groups[index % limit].append(row)
        return groups
    out: list[list[bytes]] = []
    current: list[bytes] = []
    size = 0
    for row in rows:
        if current and size + len(row) + sep > limit:
            out.append(current)
            current, size = [], 0
        current.append(row)
        size += len(row) + sep
    if current:
        out.append(current)
    return out


def _items(data: bytes) -> list[tuple[bytes, Any]]:
    """(line, decoded item) of each non-empty JSON line."""
    out = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append((line, json.loads(line)))
        except ValueError:
            raise TaskFailed(f"line {number} is not a JSON item: {line[:80]!r}") from None
    return out


def _render_item(ctx: RunContext, expression: str, item: Any) -> str:
    """Render `expression` with the item's fields as variables (Kestra's per-item render)."""
    extra = item if isinstance(item, dict) else {}
    return ctx.renderer.render(expression, {**ctx.variables, **extra})


@register(_CORE + "FilterItems", _LEGACY + "FilterItems")
class FilterItems(RunnableTask, kw_only=True):
    """Keeps (INCLUDE) or drops (EXCLUDE) the items for which `filterCondition` is truthy.

    `errorOrNullBehavior` says what an item whose condition fails to render gets: FAIL
    the task, or INCLUDE / EXCLUDE the item.
    """

    from_: str = msgspec.field(name="from")
    filter_condition: str
    filter_type: Literal["INCLUDE", "EXCLUDE"] = "INCLUDE"
    error_or_null_behavior: Literal["FAIL", "INCLUDE", "EXCLUDE"] = "FAIL"

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        source = _source(ctx, self.from_, "from")
        data = await _in_thread(ctx.storage.get, source)
        kept: list[bytes] = []
        dropped = 0
        items = _items(data)
        for line, item in items:
            try:
                keep = truthy(_render_item(ctx, self.filter_condition, item).strip())
                if self.filter_type == "EXCLUDE":
                    keep = not keep
            except ExpressionError as exc:
                if self.error_or_null_behavior == "FAIL":
                    raise TaskFailed(
                        f"{exc} (on item {line[:200].decode(errors='replace')})"
                    ) from None
                keep = self.error_or_null_behavior == "INCLUDE"
            if keep:
                kept.append(line + b"\n")
            else:
                dropped += 1
        target = _output(ctx, "filtered" + (_suffix(source) or ".jsonl"))
        await _in_thread(ctx.storage.put, target, b"".join(kept))
        return {"uri": str(target), "processedItemsTotal": len(items), "droppedItemsTotal": dropped}


@register(_CORE + "DeduplicateItems", _LEGACY + "DeduplicateItems")
class DeduplicateItems(RunnableTask, kw_only=True):
    """Keeps, for each key rendered by `expr`, only the last item with that key, in place."""

    from_: str = msgspec.field(name="from")
    expr: str

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        source = _source(ctx, self.from_, "from")
        data = await _in_thread(ctx.storage.get, source)
        items = _items(data)
        keys = [_render_item(ctx, self.expr, item) for _, item in items]
        last = {key: index for index, key in enumerate(keys)}
        kept = [line + b"\n" for index, (line, _) in enumerate(items) if last[keys[index]] == index]
        target = _output(ctx, "deduplicated" + (_suffix(source) or ".jsonl"))
        await _in_thread(ctx.storage.put, target, b"".join(kept))
        return {
            "uri": str(target),
            "numKeys": len(last),
            "processedItemsTotal": len(items),
            "droppedItemsTotal": len(items) - len(kept),
        }


@register(_CORE + "Write")
class Write(RunnableTask, kw_only=True):
    """Writes the rendered `content` to a new file of the task run; outputs its `uri`."""

    content: str
    extension: str | None = None

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        content = ctx.render(self.content)
        extension = ctx.render(self.extension) if self.extension is not None else ""
        if extension and not extension.startswith("."):
            extension = "." + extension
        if "/" in extension or "\\" in extension or "\x00" in extension:
            raise TaskFailed(
                f"`extension` must be a file extension such as .txt, got `{extension}`"
            )
        target = _output(ctx, new_id() + extension)
        await _in_thread(ctx.storage.put, target, str(content).encode())
        return {"uri": str(target)}


@register(_CORE + "Reverse", _LEGACY + "Reverse")
class Reverse(RunnableTask, kw_only=True):
    """Writes the lines of a file last line first, each followed by `separator`."""

    from_: str = msgspec.field(name="from")
    separator: str = "\n"
    charset: str = "UTF-8"

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        source = _source(ctx, self.from_, "from")
        separator = ctx.render(self.separator)
        charset = ctx.render(self.charset)
        try:
            "".encode(charset)
        except LookupError:
            raise TaskFailed(f"`charset`: unknown charset `{charset}`") from None
        target = _output(ctx, "reverse-" + new_id() + _suffix(source))
        storage = ctx.storage

        def reverse() -> None:
            text = storage.get(source).decode(charset, errors="replace")
            lines = re.split(r"\r\n|\n|\r", text)
            if lines and lines[-1] == "":
                lines.pop()  # a final line break ends the last line, it starts none
            storage.put(
                target, "".join(line + separator for line in reversed(lines)).encode(charset)
            )

        await _in_thread(reverse)
        return {"uri": str(target)}


@register(
    _CORE + "PurgeCurrentExecutionFiles",
    _CORE + "PurgeExecution",
    _LEGACY + "PurgeExecution",
)
class PurgeCurrentExecutionFiles(RunnableTask, kw_only=True):
    """Deletes every internal-storage file of the running execution (inputs, outputs,
    task files); outputs the deleted `uris`. `includeChildExecutions` and
    `includeStates` are accepted as in Kestra, which ignores them too."""

    include_child_executions: Bool = False
    include_states: Bool = False

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        flow, execution = ctx.variables["flow"], ctx.variables["execution"]
        try:
            prefix = StorageURI(execution_prefix(flow["namespace"], flow["id"], execution["id"]))
        except StorageError as exc:
            raise TaskFailed(str(exc)) from None
        storage = ctx.storage

        def purge() -> list[str]:
            deleted = []
            for uri in storage.files_under(prefix):
                if storage.delete(uri):
                    deleted.append(str(uri))
            return deleted

        return {"uris": await _in_thread(purge)}
