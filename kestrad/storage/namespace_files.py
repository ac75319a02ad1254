"""Namespace files: a folder tree per namespace in the internal storage, where Kestra keeps
them (`kestra:///<namespace as folders>/_files/<path>`): upload, read, list, make a
directory, move, delete.

Paths are the API's (`/scripts/a.py`); each segment is checked as any storage path is
(no `..`, no separators, no NUL), and the resolved file must stay inside the namespace's
`_files` folder, symlinks included.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from kestrad.storage.local import LocalStorage
from kestrad.storage.uris import StorageError, StorageURI, check_segment, namespace_parts

FILES = "_files"


class NamespaceFiles:
    """The files of one namespace."""

    def __init__(self, storage: LocalStorage, namespace: str) -> None:
        self.storage = storage
        self.namespace = namespace
        self.prefix = (*namespace_parts(namespace), FILES)

    def _parts(self, path: str) -> tuple[str, ...]:
        if not isinstance(path, str):
            raise StorageError("a namespace file path must be a string")
        parts = tuple(p for p in path.replace("\\", "/").split("/") if p not in ("", "."))
        for part in parts:
            check_segment(part)
        return parts

    def location(self, path: str) -> Path:
        """The local path of `path` (the namespace's root for `/`), inside its folder."""
        root = self.storage.root.joinpath(*self.prefix)
        parts = self._parts(path)
        if not parts:
            return root
        resolved = self.storage.path(StorageURI((*self.prefix, *parts)))
        if not resolved.is_relative_to(root.resolve()):
            raise StorageError(f"`{path}` resolves outside the namespace's files")
        return resolved

    def uri(self, path: str) -> StorageURI:
        return StorageURI((*self.prefix, *self._parts(path)))

    def put(self, path: str, data: bytes) -> None:
        if not self._parts(path):
            raise StorageError("a file needs a name")
        target = self.location(path)
        if target.is_dir():
            raise StorageError(f"`{path}` is a directory")
        self.storage.put(self.uri(path), data)

    def get(self, path: str) -> bytes:
        target = self.location(path)
        if not target.is_file():
            raise FileNotFoundError(path)
        return target.read_bytes()

    def mkdir(self, path: str) -> None:
        target = self.location(path)
        if target.is_file():
            raise StorageError(f"`{path}` is a file")
        target.mkdir(parents=True, exist_ok=True)

    def stat(self, path: str) -> dict[str, Any]:
        target = self.location(path)
        if not target.exists():
            raise FileNotFoundError(path)
        return _attributes(target)

    def list(self, path: str) -> list[dict[str, Any]]:
        target = self.location(path)
        if not target.exists():
            if not self._parts(path):
                return []
            raise FileNotFoundError(path)
        if not target.is_dir():
            raise StorageError(f"`{path}` is not a directory")
        return [_attributes(child) for child in sorted(target.iterdir())]

    def walk(self) -> list[str]:
        """Every file of the namespace as an API path (`/scripts/a.py`), sorted."""
        root = self.location("/")
        if not root.is_dir():
            return []
        return sorted(
            "/" + p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if p.is_file() and not p.is_symlink()
        )

    def move(self, source: str, target: str) -> None:
        origin, destination = self.location(source), self.location(target)
        if not self._parts(source) or not self._parts(target):
            raise StorageError("the namespace's root cannot be moved")
        if not origin.exists():
            raise FileNotFoundError(source)
        if destination.exists():
            raise StorageError(f"`{target}` already exists")
        destination.parent.mkdir(parents=True, exist_ok=True)
        origin.rename(destination)

    def delete(self, path: str) -> bool:
        target = self.location(path)
        if not self._parts(path):
            raise StorageError("the namespace's root cannot be deleted")
        if target.is_dir():
            shutil.rmtree(target)
            return True
        try:
            target.unlink()
        except FileNotFoundError:
            return False
        return True


def _attributes(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {
        "fileName": path.name,
        "lastModifiedTime": int(stat.st_mtime * 1000),
        "creationTime": int(stat.st_ctime * 1000),
        "type": "Directory" if path.is_dir() else "File",
        "size": 0 if path.is_dir() else stat.st_size,
        "metadata": {},
    }
