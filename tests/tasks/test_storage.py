"""Internal storage on its own: URI layout, the checks that keep paths inside the root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tasks_support import run_flow, run_of, running_engine

from kestrad.expr.engine import ExpressionError, Renderer
from kestrad.storage import (
    LocalStorage,
    StorageError,
    StorageURI,
    check_namespace,
    functions,
    purge_execution,
    task_run_uri,
)


def test_task_run_uri_follows_kestra_layout() -> None:
    uri = task_run_uri("company.team", "flow", "exec1", "t1", "run1").child("out/data.csv")
    assert str(uri) == "kestra:///company/team/flow/executions/exec1/tasks/t1/run1/out/data.csv"
    assert StorageURI.parse(str(uri)) == uri


@pytest.mark.parametrize(
    "text",
    [
        "kestra:///a/../b",
        "kestra:///a/./b",
        "kestra:///a/%2e%2e/b",
        "kestra:///a/b%2F..%2F..%2Fc",
        "kestra:///a/b\\..\\c",
        "kestra://host/a/b",
        "kestra:///",
        "kestra:///a//b",
        "kestra:///a/b?x=1",
        "file:///etc/passwd",
        "/etc/passwd",
        "kestra:///a/b%00c",
    ],
)
def test_unsafe_uris_are_refused(text: str) -> None:
    with pytest.raises(StorageError):
        StorageURI.parse(text)


@pytest.mark.parametrize("name", ["../x", "/abs", "a/../../x", "a\\b", ""])
def test_unsafe_child_names_are_refused(name: str) -> None:
    base = task_run_uri("ns", "f", "e", "t", "r")
    with pytest.raises(StorageError):
        base.child(name)


def test_namespace_check_is_by_segment() -> None:
    uri = StorageURI.parse("kestra:///company/team/flow/executions/e/tasks/t/r/f")
    check_namespace(uri, "company.team")
    check_namespace(uri, "company")  # a parent namespace reads its children's files
    with pytest.raises(StorageError):
        check_namespace(uri, "company.te")
    with pytest.raises(StorageError):
        check_namespace(uri, "company.team.sub")


def test_put_get_size_delete_and_purge(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "root")
    uri = task_run_uri("company.team", "flow", "e1", "t", "r").child("a.txt")
    other = task_run_uri("company.team", "flow", "e2", "t", "r").child("b.txt")
    storage.put(uri, "hello")
    storage.put(other, b"bytes")
    assert storage.get(uri) == b"hello"
    assert storage.size(uri) == 5
    with storage.open(other) as handle:
        assert handle.read() == b"bytes"
    with pytest.raises(StorageError, match="larger than 2 bytes"):
        storage.get(uri, limit=2)
    source = tmp_path / "src.bin"
    source.write_bytes(b"x" * 3000)
    copied = storage.put_file(str(uri) + "2", source)
    assert storage.size(copied) == 3000
    assert purge_execution("company.team", "flow", "e1", storage) == 2
    assert not storage.exists(uri)
    assert storage.exists(other)
    assert storage.delete(other) is True
    assert storage.delete(other) is False
    with pytest.raises(StorageError, match="does not exist"):
        storage.get(other)
    assert not list((tmp_path / "root").rglob(".part-*"))


def test_symlinks_cannot_lead_out_of_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    storage = LocalStorage(root)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (root / "ns").mkdir(parents=True)
    os.symlink(outside, root / "ns" / "link")
    with pytest.raises(StorageError, match="outside the internal storage"):
        storage.get("kestra:///ns/link/secret.txt")
    with pytest.raises(StorageError, match="outside the internal storage"):
        storage.put("kestra:///ns/link/new.txt", "x")
    assert not (outside / "new.txt").exists()


def test_functions_check_the_rendering_namespace(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    renderer = Renderer()
    functions.register(renderer, storage)
    mine = task_run_uri("company.team", "f", "e", "t", "r").child("x.txt")
    theirs = task_run_uri("other", "f", "e", "t", "r").child("x.txt")
    storage.put(mine, "mine")
    storage.put(theirs, "theirs")
    variables = {"flow": {"namespace": "company.team", "id": "f"}}
    assert renderer.render(f"{{{{ read('{mine}') }}}}", variables) == "mine"
    assert renderer.render_typed(f"{{{{ fileSize('{mine}') }}}}", variables) == 4
    with pytest.raises(ExpressionError, match="does not belong to namespace"):
        renderer.render(f"{{{{ read('{theirs}') }}}}", variables)
    with pytest.raises(ExpressionError, match="does not exist"):
        renderer.render(f"{{{{ read('{mine}.missing') }}}}", variables)
    assert (
        renderer.render("{{ fileURI('dir/file.sql') }}", variables)
        == "kestra:///company/team/_files/dir/file.sql"
    )
    with pytest.raises(ExpressionError, match="not allowed"):
        renderer.render("{{ fileURI('../x') }}", variables)
    with pytest.raises(ExpressionError, match="only be used while running a flow"):
        renderer.render(f"{{{{ read('{mine}') }}}}", {})


def test_file_exists_and_is_file_empty(tmp_path: Path) -> None:
    # Kestra: FileExistsFunction, IsFileEmptyFunction (MultipleConditionTriggerCaseTest
    # #forEachItemWithFlowTrigger reads `isFileEmpty(inputs.testFile)`)
    storage = LocalStorage(tmp_path)
    renderer = Renderer()
    functions.register(renderer, storage)
    base = task_run_uri("company.team", "f", "e", "t", "r")
    storage.put(base.child("full.txt"), "x")
    storage.put(base.child("empty.txt"), "")
    theirs = task_run_uri("other", "f", "e", "t", "r").child("x.txt")
    storage.put(theirs, "secret")
    variables = {"flow": {"namespace": "company.team", "id": "f"}}
    render = renderer.render_typed
    assert render(f"{{{{ isFileEmpty('{base.child('empty.txt')}') }}}}", variables) is True
    assert render(f"{{{{ isFileEmpty('{base.child('full.txt')}') }}}}", variables) is False
    assert render(f"{{{{ fileExists('{base.child('full.txt')}') }}}}", variables) is True
    assert render(f"{{{{ fileExists('{base.child('nope.txt')}') }}}}", variables) is False
    with pytest.raises(ExpressionError, match="does not belong to namespace"):
        render(f"{{{{ fileExists('{theirs}') }}}}", variables)
    with pytest.raises(ExpressionError, match="is not a file"):
        render(f"{{{{ isFileEmpty('{base.child('nope.txt')}') }}}}", variables)


@pytest.mark.anyio
async def test_purge_removes_an_ended_execution_files(tmp_path: Path) -> None:
    source = """
id: purge
namespace: company.team
tasks:
  - id: sh
    type: io.kestra.plugin.scripts.shell.Commands
    outputFiles: ["*.txt"]
    commands: ["echo a > a.txt", "echo b > b.txt"]
"""
    async with running_engine(tmp_path) as engine:
        final, _ = await run_flow(engine, source)
        from tasks_support import storage

        files = run_of(final, "sh").outputs["outputFiles"]
        assert all(storage().exists(uri) for uri in files.values())
        assert purge_execution("company.team", "purge", final.id) == 2
        assert not any(storage().exists(uri) for uri in files.values())
        assert purge_execution("company.team", "purge", final.id) == 0
