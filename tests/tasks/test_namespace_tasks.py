"""Namespace files seen from flows: UploadFiles, DownloadFiles, DeleteFiles and a script
task's `namespaceFiles`, on the same files the API's `namespaces/{ns}/files` serves.

After Kestra's UploadFilesTest, DownloadFilesTest and DeleteFilesTest
(core/src/test/java/io/kestra/plugin/core/namespace/): a map uploads under its paths, a
`**` glob crosses folders, `*` stays in one, a download outputs path → URI.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tasks_support import messages, run_flow, run_of, running_engine, storage

from kestrad.storage.namespace_files import NamespaceFiles
from kestrad.tasks.namespace_tasks import glob_regex

pytestmark = pytest.mark.anyio


def test_kestras_globs() -> None:
    assert glob_regex("**.py").match("/scripts/deep/a.py")
    assert glob_regex("/scripts/*.py").match("/scripts/a.py")
    assert not glob_regex("/scripts/*.py").match("/scripts/deep/a.py")
    assert glob_regex("**input.txt").match("/a/b/input.txt")
    assert not glob_regex("a.py").match("/a_py")  # dots are literal


async def test_upload_download_delete_and_script_namespace_files(tmp_path: Path) -> None:
    async with running_engine(tmp_path) as engine:
        storage().put("kestra:///company/team/seed/etl.py", b"print('from the namespace')\n")
        storage().put("kestra:///company/team/seed/notes.txt", b"notes\n")
        source = """
id: nsfiles
namespace: company.team
tasks:
  - id: upload
    type: io.kestra.plugin.core.namespace.UploadFiles
    namespace: company.shared
    files:
      /scripts/etl.py: kestra:///company/team/seed/etl.py
      /docs/notes.txt: kestra:///company/team/seed/notes.txt
  - id: run
    type: io.kestra.plugin.scripts.shell.Commands
    namespaceFiles:
      enabled: true
      namespaces:
        - company.shared
      include:
        - "**.py"
    commands:
      - ls -R . | grep -c notes.txt || true
      - cat scripts/etl.py
  - id: download
    type: io.kestra.plugin.core.namespace.DownloadFiles
    namespace: company.shared
    files:
      - "/scripts/*"
  - id: delete
    type: io.kestra.plugin.core.namespace.DeleteFiles
    namespace: company.shared
    files: "**.txt"
"""
        final, logs = await run_flow(engine, source)
        assert final.state.current == "SUCCESS", messages(logs)
        assert "print('from the namespace')" in messages(logs, "run")
        assert "0" in messages(logs, "run")  # notes.txt was not included
        downloaded = run_of(final, "download").outputs["files"]
        assert list(downloaded) == ["/scripts/etl.py"]
        assert storage().get(downloaded["/scripts/etl.py"]) == b"print('from the namespace')\n"
        assert run_of(final, "delete").outputs["files"] == ["/docs/notes.txt"]
        assert NamespaceFiles(storage(), "company.shared").walk() == ["/scripts/etl.py"]


async def test_upload_conflicts_and_hostile_paths(tmp_path: Path) -> None:
    async with running_engine(tmp_path) as engine:
        NamespaceFiles(storage(), "company.team").put("/a.txt", b"old")
        storage().put("kestra:///company/team/seed/a.txt", b"new")
        template = """
id: conflict
namespace: company.team
tasks:
  - id: upload
    type: io.kestra.plugin.core.namespace.UploadFiles
    namespace: company.team
    conflict: {conflict}
    files:
      {path}: kestra:///company/team/seed/a.txt
"""
        skipped, _ = await run_flow(engine, template.format(conflict="SKIP", path="/a.txt"))
        assert skipped.state.current == "SUCCESS"
        assert NamespaceFiles(storage(), "company.team").get("/a.txt") == b"old"
        refused, _ = await run_flow(engine, template.format(conflict="ERROR", path="/a.txt"))
        assert refused.state.current == "FAILED"
        escape, logs = await run_flow(
            engine, template.format(conflict="OVERWRITE", path="/../../etc/x")
        )
        assert escape.state.current == "FAILED"
        assert any("not allowed" in m for m in messages(logs, level="ERROR")), messages(logs)
