"""Files around a script run: `inputFiles` written in, `outputFiles` globs uploaded out.

Names come from the flow author, so each one is checked: an input file or an output glob
can never reach outside the task's working directory, and an input given as a
`kestra:///` URI must belong to the execution's namespace.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio

from kestrad.storage import StorageError, StorageURI, check_namespace
from kestrad.storage.uris import SCHEME, relative_parts
from kestrad.tasks.base import TaskFailed


def input_file_map(rendered: Any) -> dict[str, str]:
    """`inputFiles` as a map; Kestra also accepts a JSON string of that map."""
    if rendered is None:
        return {}
    if isinstance(rendered, str):
        try:
            rendered = json.loads(rendered)
        except json.JSONDecodeError:
            raise TaskFailed("`inputFiles` must be a map of file name to content") from None
    if not isinstance(rendered, dict):
        raise TaskFailed("`inputFiles` must be a map of file name to content")
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in rendered.items()}


def inside(folder: Path, name: str) -> Path:
    """`folder/name`, refused when `name` is absolute, has `..`, or leads out by a symlink."""
    try:
        parts = relative_parts(name)
    except StorageError as exc:
        raise TaskFailed(f"file name `{name}` refused: {exc}") from None
    target = folder.joinpath(*parts)
    if not target.resolve().is_relative_to(folder.resolve()):
        raise TaskFailed(f"file name `{name}` leads outside the working directory")
    return target


async def write_input_files(
    folder: Path, files: dict[str, str], storage: Any, namespace: str
) -> None:
    """Write each input file; a `kestra:///` value is copied from internal storage."""
    for name, content in files.items():
        target = inside(folder, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        if content.startswith(SCHEME):
            try:
                uri = StorageURI.parse(content)
                check_namespace(uri, namespace)
                data = await anyio.to_thread.run_sync(storage.get, uri)
            except StorageError as exc:
                raise TaskFailed(f"input file `{name}`: {exc}") from None
            target.write_bytes(data)
        else:
            target.write_text(content, encoding="utf-8")


def output_globs(rendered: Any) -> list[str]:
    if rendered is None:
        return []
    globs = [rendered] if isinstance(rendered, str) else list(rendered)
    for pattern in globs:
        if not isinstance(pattern, str) or not pattern:
            raise TaskFailed("`outputFiles` must be a list of glob patterns")
        if pattern.startswith("/") or ".." in pattern.split("/"):
            raise TaskFailed(f"output glob `{pattern}` must stay inside the working directory")
    return globs


def match_output_files(folder: Path, globs: list[str]) -> dict[str, Path]:
    """Relative name → file for every regular file a glob matches inside `folder`."""
    root = folder.resolve()
    found: dict[str, Path] = {}
    for pattern in globs:
        for path in sorted(folder.glob(pattern)):
            if not path.is_file():
                continue
            if not path.resolve().is_relative_to(root):
                continue  # a symlink pointing out of the working directory
            found.setdefault(path.relative_to(folder).as_posix(), path)
    return found


async def upload_output_files(
    files: dict[str, Path], storage: Any, task_run_uri: StorageURI
) -> dict[str, str]:
    """Upload files under the task run's folder; returns name → `kestra:///` URI."""
    uris: dict[str, str] = {}
    for name, path in files.items():
        try:
            uri = task_run_uri.child(name)
        except StorageError as exc:
            raise TaskFailed(f"output file `{name}` refused: {exc}") from None
        await anyio.to_thread.run_sync(storage.put_file, uri, path)
        uris[name] = str(uri)
    return uris
