"""Internal storage on the local file system, laid out as Kestra lays out its URIs.

`kestra:///company/team/flow/executions/<id>/tasks/<task>/<run>/out.csv` lives at
`<root>/company/team/flow/executions/<id>/tasks/<task>/<run>/out.csv`. Every path is
built from validated URI segments and then checked again after resolving symlinks, so
nothing read or written here can be outside the root.

The methods are synchronous file operations: async callers move large copies to a thread
(`anyio.to_thread.run_sync`); small reads (expression functions) happen in place.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from kestrad.storage.uris import StorageError, StorageURI, execution_prefix


class LocalStorage:
    """Files under one root directory, addressed by `kestra:///` URIs."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def path(self, uri: StorageURI | str) -> Path:
        """The file behind `uri`, guaranteed to be inside the root (symlinks resolved)."""
        parsed = StorageURI.parse(uri)
        candidate = self.root.joinpath(*parsed.parts)
        resolved = candidate.resolve()
        if not resolved.is_relative_to(self.root) or resolved == self.root:
            raise StorageError(f"`{parsed}` resolves outside the internal storage")
        return resolved

    # -- writing ------------------------------------------------------------------------------
    def put(self, uri: StorageURI | str, data: bytes | str) -> StorageURI:
        """Store `data` at `uri` (atomically: readers never see half a file)."""
        parsed = StorageURI.parse(uri)
        target = self.path(parsed)
        payload = data.encode("utf-8") if isinstance(data, str) else data
        with self._temporary(target) as (handle, _):
            handle.write(payload)
        return parsed

    def put_file(self, uri: StorageURI | str, source: str | os.PathLike[str]) -> StorageURI:
        """Copy a local file to `uri`; the source is left untouched."""
        parsed = StorageURI.parse(uri)
        target = self.path(parsed)
        with open(source, "rb") as src, self._temporary(target) as (handle, _):
            shutil.copyfileobj(src, handle, 1024 * 1024)
        return parsed

    def _temporary(self, target: Path) -> _AtomicWrite:
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.parent.resolve().is_relative_to(self.root):
            raise StorageError(f"`{target}` resolves outside the internal storage")
        return _AtomicWrite(target)

    # -- reading ------------------------------------------------------------------------------
    def open(self, uri: StorageURI | str) -> BinaryIO:
        """A binary reader; a missing file is a StorageError naming the URI."""
        path = self.path(uri)
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise StorageError(f"file `{StorageURI.parse(uri)}` does not exist") from None
        except IsADirectoryError:
            raise StorageError(f"`{StorageURI.parse(uri)}` is a folder, not a file") from None

    def get(self, uri: StorageURI | str, *, limit: int | None = None) -> bytes:
        """The whole file; over `limit` bytes is an error (expressions must stay small)."""
        with self.open(uri) as handle:
            if limit is None:
                return handle.read()
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise StorageError(f"file `{StorageURI.parse(uri)}` is larger than {limit} bytes")
        return data

    def size(self, uri: StorageURI | str) -> int:
        path = self.path(uri)
        try:
            if not path.is_file():
                raise StorageError(f"`{StorageURI.parse(uri)}` is not a file")
            return path.stat().st_size
        except FileNotFoundError:
            raise StorageError(f"file `{StorageURI.parse(uri)}` does not exist") from None

    def exists(self, uri: StorageURI | str) -> bool:
        return self.path(uri).is_file()

    # -- deleting -----------------------------------------------------------------------------
    def delete(self, uri: StorageURI | str) -> bool:
        """Remove one file; False when it was not there."""
        path = self.path(uri)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        except IsADirectoryError:
            raise StorageError(f"`{StorageURI.parse(uri)}` is a folder, not a file") from None
        return True

    def files_under(self, prefix: StorageURI) -> list[StorageURI]:
        """Every file below the folder `prefix`, as URIs, sorted; none when it is absent."""
        folder = self.path(prefix)
        if not folder.is_dir():
            return []
        return sorted(
            (
                StorageURI((*prefix.parts, *p.relative_to(folder).parts))
                for p in folder.rglob("*")
                if p.is_file() and not p.is_symlink()
            ),
            key=str,
        )

    def purge_execution(self, namespace: str, flow_id: str, execution_id: str) -> int:
        """Remove every file of one execution; returns how many files were removed."""
        folder = self.path(StorageURI(execution_prefix(namespace, flow_id, execution_id)))
        if not folder.is_dir():
            return 0
        count = sum(1 for p in folder.rglob("*") if p.is_file() or p.is_symlink())
        shutil.rmtree(folder, ignore_errors=True)
        return count


class _AtomicWrite:
    """Write to a temporary file next to the target, then rename it into place."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.handle: BinaryIO | None = None
        self.temp = ""

    def __enter__(self) -> tuple[BinaryIO, Path]:
        fd, self.temp = tempfile.mkstemp(prefix=".part-", dir=self.target.parent)
        self.handle = os.fdopen(fd, "wb")
        return self.handle, self.target

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        assert self.handle is not None
        self.handle.close()
        if exc_type is None:
            os.replace(self.temp, self.target)
        else:
            with _suppress_missing():
                os.unlink(self.temp)


class _suppress_missing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: object, tb: object) -> bool:
        return exc_type is FileNotFoundError
