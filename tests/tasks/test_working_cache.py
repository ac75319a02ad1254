"""WorkingDirectory `cache` (Kestra: WorkingDirectoryTest#cache): stored after a run that
succeeded, restored into the next run's folder while younger than `ttl`, never written
outside that folder."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from kestrad.storage import LocalStorage
from kestrad.tasks import working_cache
from kestrad.tasks.base import TaskFailed


def _folder(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    return folder


def test_files_matching_the_patterns_come_back_in_the_next_run(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    uri = working_cache.cache_uri("company.team", "flow", "wd")
    first = _folder(tmp_path, "first")
    (first / "hello.txt").write_text("HELLO")
    (first / "skip.bin").write_text("no")
    (first / "sub").mkdir()
    (first / "sub" / "deep.txt").write_text("deep")
    assert working_cache.store(storage, uri, first, ["*.txt", "sub/*.txt"]) == 2
    assert str(uri) == "kestra:///company/team/flow/ws-cache/wd/cache.zip"
    second = _folder(tmp_path, "second")
    assert working_cache.restore(storage, uri, second, "PT5M") == 2
    assert (second / "hello.txt").read_text() == "HELLO"
    assert (second / "sub" / "deep.txt").read_text() == "deep"
    assert not (second / "skip.bin").exists()


def test_an_expired_cache_is_dropped(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    uri = working_cache.cache_uri("company", "flow", "wd")
    first = _folder(tmp_path, "first")
    (first / "a.txt").write_text("a")
    working_cache.store(storage, uri, first, "*.txt")
    old = storage.path(uri).stat().st_mtime - 3600
    os.utime(storage.path(uri), (old, old))
    assert working_cache.restore(storage, uri, _folder(tmp_path, "second"), "PT5M") == 0
    assert not storage.exists(uri)


def test_a_hostile_archive_cannot_write_outside_the_folder(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    uri = working_cache.cache_uri("company", "flow", "wd")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../escaped.txt", "x")
    storage.put(uri, buffer.getvalue())
    with pytest.raises(TaskFailed):
        working_cache.restore(storage, uri, _folder(tmp_path, "run"), None)
    assert not (tmp_path / "escaped.txt").exists()


def test_patterns_must_stay_inside_the_folder(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    uri = working_cache.cache_uri("company", "flow", "wd")
    with pytest.raises(TaskFailed):
        working_cache.store(storage, uri, _folder(tmp_path, "run"), ["../*.txt"])
