"""WorkingDirectory `cache`: files matching `patterns` kept between runs of one task.

Kestra zips them into internal storage (`<namespace>/<flowId>/ws-cache/<taskId>/cache.zip`)
when the WorkingDirectory succeeds, and unzips them into the next run's folder while the
archive is younger than `ttl` (Kestra: WorkingDirectoryTest#cache). Only regular files
inside the folder are stored, and restored names never leave it.
"""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path
from typing import Any

from kestrad.model.durations import parse_duration
from kestrad.storage import StorageURI
from kestrad.storage.uris import namespace_parts
from kestrad.tasks.base import TaskFailed
from kestrad.tasks.script_files import inside, match_output_files, output_globs


def cache_uri(namespace: str, flow_id: str, task_id: str) -> StorageURI:
    return StorageURI((*namespace_parts(namespace), flow_id, "ws-cache", task_id, "cache.zip"))


def restore(storage: Any, uri: StorageURI, folder: Path, ttl: str | None) -> int:
    """Unzip a fresh enough cache into `folder`; the number of files restored."""
    if not storage.exists(uri):
        return 0
    if ttl is not None:
        age = time.time() - storage.path(uri).stat().st_mtime
        if age > parse_duration(ttl).total_seconds():
            storage.delete(uri)
            return 0
    count = 0
    with zipfile.ZipFile(io.BytesIO(storage.get(uri))) as archive:
        for member in archive.infolist():
            if member.is_dir():
                continue
            target = inside(folder, member.filename)  # refuses `..` and absolute names
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(member))
            count += 1
    return count


def store(storage: Any, uri: StorageURI, folder: Path, patterns: Any) -> int:
    """Zip the files matching `patterns` into the cache; the number of files stored."""
    if not isinstance(patterns, list | str):
        raise TaskFailed("`cache.patterns` must be a list of glob patterns")
    found = match_output_files(folder, output_globs(patterns))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, path in found.items():
            archive.write(path, name)
    storage.put(uri, buffer.getvalue())
    return len(found)
