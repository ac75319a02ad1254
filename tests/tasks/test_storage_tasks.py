"""storage.* tasks on internal storage files, through real flows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tasks_support import messages, run_flow, run_of, running_engine, storage

from kestrad.tasks.storage_tasks import parse_bytes

pytestmark = pytest.mark.anyio

BASE = "kestra:///company/team/data"
ITEMS = [
    {"id": 1, "email": "a@x", "amount": 50},
    {"id": 2, "email": "b@x", "amount": 150},
    {"id": 3, "email": "a@x", "amount": 300},
    {"id": 4, "email": "c@x"},
]


def _put_fixtures() -> None:
    storage().put(f"{BASE}/a.txt", b"alpha\n")
    storage().put(f"{BASE}/b.txt", b"beta\n")
    storage().put(f"{BASE}/rows.csv", b"".join(f"row{i}\n".encode() for i in range(10)))
    storage().put(f"{BASE}/items.jsonl", "".join(json.dumps(i) + "\n" for i in ITEMS))


def _lines(uri: str) -> list[str]:
    return storage().get(uri).decode().splitlines()


async def test_concat_size_delete(tmp_path: Path) -> None:
    source = f"""
id: files
namespace: company.team
tasks:
  - id: concat
    type: io.kestra.plugin.core.storage.Concat
    files: ["{BASE}/a.txt", "{BASE}/b.txt"]
    separator: "--\\n"
    extension: .log
  - id: concat_json
    type: io.kestra.plugin.core.storage.Concat
    files: '["{BASE}/b.txt", "{BASE}/a.txt"]'
  - id: size
    type: io.kestra.plugin.core.storage.Size
    uri: "{{{{ outputs.concat.uri }}}}"
  - id: delete
    type: io.kestra.plugin.core.storage.Delete
    uri: "{BASE}/a.txt"
  - id: delete_missing
    type: io.kestra.plugin.core.storage.Delete
    uri: "{BASE}/a.txt"
"""
    async with running_engine(tmp_path) as engine:
        _put_fixtures()
        execution, _ = await run_flow(engine, source)
        assert execution.state.current == "SUCCESS"
        concat = run_of(execution, "concat").outputs["uri"]
        assert concat.endswith("/concat.log")
        assert storage().get(concat) == b"alpha\n--\nbeta\n--\n"
        assert storage().get(run_of(execution, "concat_json").outputs["uri"]) == b"beta\nalpha\n"
        assert run_of(execution, "size").outputs["size"] == len(b"alpha\n--\nbeta\n--\n")
        assert run_of(execution, "delete").outputs == {"uri": f"{BASE}/a.txt", "deleted": True}
        assert run_of(execution, "delete_missing").outputs["deleted"] is False
        assert not storage().exists(f"{BASE}/a.txt")


async def test_split_by_rows_bytes_and_partitions(tmp_path: Path) -> None:
    source = f"""
id: splits
namespace: company.team
tasks:
  - id: rows
    type: io.kestra.plugin.core.storage.Split
    from: "{BASE}/rows.csv"
    rows: 4
  - id: bytes
    type: io.kestra.plugin.core.storage.Split
    from: "{BASE}/rows.csv"
    bytes: "10"
  - id: partitions
    type: io.kestra.plugin.core.storage.Split
    from: "{BASE}/rows.csv"
    partitions: 3
"""
    async with running_engine(tmp_path) as engine:
        _put_fixtures()
        execution, _ = await run_flow(engine, source)
        assert execution.state.current == "SUCCESS"
        rows = run_of(execution, "rows").outputs["uris"]
        assert [len(_lines(u)) for u in rows] == [4, 4, 2]
        assert rows[0].endswith(".csv")
        by_bytes = run_of(execution, "bytes").outputs["uris"]
        assert [len(_lines(u)) for u in by_bytes] == [2, 2, 2, 2, 2]  # 5-byte rows, 10 bytes
        parts = run_of(execution, "partitions").outputs["uris"]
        assert _lines(parts[0]) == ["row0", "row3", "row6", "row9"]
        everything = sorted(line for u in parts for line in _lines(u))
        assert everything == [f"row{i}" for i in range(10)]


async def test_filter_and_deduplicate_items(tmp_path: Path) -> None:
    source = f"""
id: items
namespace: company.team
tasks:
  - id: big
    type: io.kestra.plugin.core.storage.FilterItems
    from: "{BASE}/items.jsonl"
    filterCondition: "{{{{ amount > 100 }}}}"
    errorOrNullBehavior: EXCLUDE
  - id: not_big
    type: io.kestra.plugin.core.storage.FilterItems
    from: "{BASE}/items.jsonl"
    filterCondition: "{{{{ amount > 100 }}}}"
    filterType: EXCLUDE
    errorOrNullBehavior: INCLUDE
  - id: dedup
    type: io.kestra.plugin.core.storage.DeduplicateItems
    from: "{BASE}/items.jsonl"
    expr: "{{{{ email }}}}"
  - id: strict
    type: io.kestra.plugin.core.storage.FilterItems
    from: "{BASE}/items.jsonl"
    filterCondition: "{{{{ amount > 100 }}}}"
"""
    async with running_engine(tmp_path) as engine:
        _put_fixtures()
        execution, logs = await run_flow(engine, source)
        big = run_of(execution, "big").outputs
        assert [json.loads(x)["id"] for x in _lines(big["uri"])] == [2, 3]
        assert (big["processedItemsTotal"], big["droppedItemsTotal"]) == (4, 2)
        not_big = run_of(execution, "not_big").outputs
        assert [json.loads(x)["id"] for x in _lines(not_big["uri"])] == [1, 4]
        dedup = run_of(execution, "dedup").outputs
        assert [json.loads(x)["id"] for x in _lines(dedup["uri"])] == [2, 3, 4]
        assert (dedup["numKeys"], dedup["droppedItemsTotal"]) == (3, 1)
        # FAIL (the default) on an item the condition cannot be evaluated for.
        assert run_of(execution, "strict").state.current == "FAILED"
        assert any('"id": 4' in m for m in messages(logs, "strict", "ERROR"))


async def test_files_of_other_namespaces_and_escapes_are_refused(tmp_path: Path) -> None:
    source = """
id: sneaky
namespace: company.team
tasks:
  - id: other
    type: io.kestra.plugin.core.storage.Size
    uri: kestra:///company/other/secret.txt
    allowFailure: true
  - id: escape
    type: io.kestra.plugin.core.storage.Delete
    uri: kestra:///company/team/../other/secret.txt
"""
    async with running_engine(tmp_path) as engine:
        storage().put("kestra:///company/other/secret.txt", b"secret")
        execution, logs = await run_flow(engine, source)
        assert run_of(execution, "other").state.current == "WARNING"  # allowFailure
        assert any("does not belong" in m for m in messages(logs, "other", "ERROR"))
        assert run_of(execution, "escape").state.current == "FAILED"
        assert storage().exists("kestra:///company/other/secret.txt")


def test_parse_bytes() -> None:
    assert parse_bytes("1024") == 1024
    assert parse_bytes("10KB") == 10 * 1024
    assert parse_bytes("2 MB") == 2 * 1024**2
    assert parse_bytes("1g") == 1024**3


WRITE_REVERSE_PURGE = """
id: write-reverse
namespace: company.team
tasks:
  - id: write
    type: io.kestra.plugin.core.storage.Write
    content: "1\\n2\\n{{ 1 + 2 }}\\n"
    extension: .yml
  - id: reverse
    type: io.kestra.plugin.core.storage.Reverse
    from: "{{ outputs.write.uri }}"
  - id: read
    type: io.kestra.plugin.core.debug.Return
    format: "{{ read(outputs.reverse.uri) }}"
  - id: purge
    type: io.kestra.plugin.core.storage.PurgeCurrentExecutionFiles
"""


async def test_write_reverse_and_purge_the_execution_files(tmp_path: Path) -> None:
    """WriteTest#run (a file with the rendered content and the extension), ReverseTest#run
    (`1\\n2\\n3\\n` → `3\\n2\\n1\\n`, same extension), PurgeCurrentExecutionFilesTest#run
    (every file of the execution deleted, their URIs returned)."""
    async with running_engine(tmp_path) as engine:
        execution, logs = await run_flow(engine, WRITE_REVERSE_PURGE)
    assert execution.state.current == "SUCCESS", [e.message for e in logs]
    written = run_of(execution, "write").outputs["uri"]
    reversed_uri = run_of(execution, "reverse").outputs["uri"]
    assert written.endswith(".yml") and reversed_uri.endswith(".yml")
    assert run_of(execution, "read").outputs["value"] == "3\n2\n1\n"
    purged = run_of(execution, "purge").outputs["uris"]
    assert sorted(purged) == sorted([written, reversed_uri])
    assert not storage().exists(written) and not storage().exists(reversed_uri)


async def test_reverse_refuses_a_file_of_another_namespace(tmp_path: Path) -> None:
    source = WRITE_REVERSE_PURGE.replace(
        'from: "{{ outputs.write.uri }}"', "from: kestra:///company/rival/f/file.txt"
    )
    async with running_engine(tmp_path) as engine:
        execution, logs = await run_flow(engine, source)
    assert run_of(execution, "reverse").state.current == "FAILED"
    assert any("does not belong to namespace" in m for m in messages(logs, "reverse", "ERROR"))


@pytest.mark.parametrize("extension", ["/../../../escape", ".a/b", "..\\\\x"])
async def test_write_refuses_an_extension_that_is_a_path(tmp_path: Path, extension: str) -> None:
    source = WRITE_REVERSE_PURGE.replace("extension: .yml", f'extension: "{extension}"')
    async with running_engine(tmp_path) as engine:
        execution, logs = await run_flow(engine, source)
    assert run_of(execution, "write").state.current == "FAILED"
    [error] = messages(logs, "write", "ERROR")
    assert error.startswith("`extension` must be a file extension")
    assert not (tmp_path / "escape").exists()
