"""Internal storage: the files executions produce and pass along as `kestra:///` URIs.

`default_storage()` is the storage tasks and expression functions use when the runtime
did not give them one; the daemon sets it once from its state directory with
`set_default_storage`. Until then it lives under the system temp dir, one folder per
process, so tests and `kestrad run` never share or leak files.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from kestrad.storage.local import LocalStorage
from kestrad.storage.uris import (
    StorageError,
    StorageURI,
    check_namespace,
    execution_prefix,
    task_run_uri,
    task_run_uri_from,
)

__all__ = [
    "LocalStorage",
    "StorageError",
    "StorageURI",
    "check_namespace",
    "default_storage",
    "execution_prefix",
    "purge_execution",
    "set_default_storage",
    "task_run_uri",
    "task_run_uri_from",
]

_default: LocalStorage | None = None


def default_storage() -> LocalStorage:
    """The process-wide storage (created on first use under the temp dir if never set)."""
    global _default
    if _default is None:
        root = Path(tempfile.gettempdir()) / f"kestrad-storage-{os.getpid()}"
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        _default = LocalStorage(root)
    return _default


def set_default_storage(storage: LocalStorage | str | os.PathLike[str]) -> LocalStorage:
    """Make `storage` (or a LocalStorage at that folder) the process-wide storage."""
    global _default
    if not isinstance(storage, LocalStorage):
        Path(storage).mkdir(mode=0o700, parents=True, exist_ok=True)
        storage = LocalStorage(storage)
    _default = storage
    return storage


def purge_execution(
    namespace: str, flow_id: str, execution_id: str, storage: LocalStorage | None = None
) -> int:
    """Remove the files of an ended execution (retention and purge tasks call this)."""
    return (storage or default_storage()).purge_execution(namespace, flow_id, execution_id)
