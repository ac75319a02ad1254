"""The KV store: kv.* tasks and the kv() function through real flows, and `kestrad kv`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tasks_support import messages, run_flow, run_of, running_engine

from kestrad.model.kv import KVError, encode_value
from kestrad.store.base import KVEntry

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]


def outputs(execution, task_id: str):
    return run_of(execution, task_id).outputs


async def test_set_get_delete_and_keys(tmp_path: Path) -> None:
    source = """
id: kv-roundtrip
namespace: company.team
tasks:
  - id: set_map
    type: io.kestra.plugin.core.kv.Set
    key: config
    value: "{{ {'limit': 3, 'tags': ['a', 'b']} }}"
  - id: set_number
    type: io.kestra.plugin.core.kv.Set
    key: count
    value: "42"
    kvType: NUMBER
  - id: set_other
    type: io.kestra.plugin.core.kv.Set
    namespace: company.other
    key: config-2
    value: elsewhere
  - id: get
    type: io.kestra.plugin.core.kv.Get
    key: config
  - id: function
    type: io.kestra.plugin.core.debug.Return
    format: "{{ kv('config').limit + kv('count') }} {{ kv('config-2', 'company.other') }}"
  - id: keys
    type: io.kestra.plugin.core.kv.GetKeys
    prefix: co
  - id: delete
    type: io.kestra.plugin.core.kv.Delete
    key: count
  - id: delete_again
    type: io.kestra.plugin.core.kv.Delete
    key: count
  - id: missing
    type: io.kestra.plugin.core.kv.Get
    key: count
"""
    async with running_engine(tmp_path) as engine:
        execution, _ = await run_flow(engine, source)
        assert execution.state.current == "SUCCESS"
        assert outputs(execution, "get")["value"] == {"limit": 3, "tags": ["a", "b"]}
        assert outputs(execution, "function")["value"] == "45 elsewhere"
        assert sorted(outputs(execution, "keys")["keys"]) == ["config", "count"]
        assert outputs(execution, "delete")["deleted"] is True
        assert outputs(execution, "delete_again")["deleted"] is False
        assert outputs(execution, "missing")["value"] is None
        stored = await engine.store.kv_get("company.team", "count")
        assert stored is None
        entry = await engine.store.kv_get("company.team", "config")
        assert entry.type == "JSON"


async def test_overwrite_false_fails_and_error_on_missing(tmp_path: Path) -> None:
    source = """
id: kv-overwrite
namespace: company.team
tasks:
  - id: first
    type: io.kestra.plugin.core.kv.Set
    key: once
    value: one
  - id: second
    type: io.kestra.plugin.core.kv.Set
    key: once
    value: two
    overwrite: false
"""
    missing = """
id: kv-missing
namespace: company.team
tasks:
  - id: get
    type: io.kestra.plugin.core.kv.Get
    key: nothing-here
    errorOnMissing: true
"""
    async with running_engine(tmp_path) as engine:
        execution, logs = await run_flow(engine, source)
        assert execution.state.current == "FAILED"
        assert run_of(execution, "second").state.current == "FAILED"
        assert any("already exists" in m for m in messages(logs, "second", "ERROR"))
        found, value = await engine.services.kv_get("company.team", "once")
        assert (found, value) == (True, "one")
        execution, logs = await run_flow(engine, missing)
        assert execution.state.current == "FAILED"
        assert any("nothing-here" in m for m in messages(logs, "get", "ERROR"))


async def test_ttl_expires_keys_and_function_falls_back_to_parent_namespace(
    tmp_path: Path,
) -> None:
    source = """
id: kv-ttl
namespace: company.team.sub
tasks:
  - id: short
    type: io.kestra.plugin.core.kv.Set
    key: brief
    value: soon gone
    ttl: PT0.3S
  - id: wait
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT0.5S
  - id: gone
    type: io.kestra.plugin.core.kv.Get
    key: brief
  - id: inherited
    type: io.kestra.plugin.core.debug.Return
    format: "{{ kv('shared') }} {{ kv('brief', errorOnMissing=false) ?? 'expired' }}"
"""
    async with running_engine(tmp_path) as engine:
        await engine.services.kv_set("company", "shared", "from the parent")
        execution, _ = await run_flow(engine, source)
        assert execution.state.current == "SUCCESS"
        assert outputs(execution, "gone")["value"] is None
        assert outputs(execution, "inherited")["value"] == "from the parent expired"


async def test_function_sees_writes_made_by_other_writers(tmp_path: Path) -> None:
    async with running_engine(tmp_path) as engine:
        entry = KVEntry(
            namespace="company.team", key="ext", value='"outside"', type="STRING", updated=1e10
        )
        assert await engine.store.kv_set(entry)
        assert await engine.services.refresh_kv()
        assert engine.services.kv_mirror.get("company.team", "ext").value == '"outside"'
        assert not await engine.services.refresh_kv()  # unchanged table: no reload


@pytest.mark.parametrize(
    ("value", "kv_type", "expected"),
    [
        ("42", "NUMBER", ("42", "NUMBER")),
        ("1.5", "NUMBER", ("1.5", "NUMBER")),
        ("TRUE", "BOOLEAN", ("true", "BOOLEAN")),
        ("no", "BOOLEAN", ("false", "BOOLEAN")),
        ('{"a": [1]}', "JSON", ('{"a": [1]}', "JSON")),
        ("2024-01-02T03:04:05+01:00", "DATETIME", ('"2024-01-02T02:04:05Z"', "DATETIME")),
        ("2024-01-02", "DATE", ('"2024-01-02"', "DATE")),
        ("PT90S", "DURATION", ('"PT1M30S"', "DURATION")),
        ("text", None, ('"text"', "STRING")),
        (7, None, ("7", "NUMBER")),
        ([1, 2], "STRING", ("[1, 2]", "JSON")),
    ],
)
def test_kv_types(value: object, kv_type: str | None, expected: tuple[str, str]) -> None:
    assert encode_value(value, kv_type) == expected


@pytest.mark.parametrize(
    ("value", "kv_type"),
    [("forty", "NUMBER"), ("true", "NUMBER"), ("{", "JSON"), ("soon", "DURATION"), ("x", "BAD")],
)
def test_bad_kv_values_are_refused(value: str, kv_type: str) -> None:
    with pytest.raises(KVError):
        encode_value(value, kv_type)


def _kestrad(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kestrad", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


def test_cli_set_get_list(tmp_path: Path) -> None:
    config = tmp_path / "kestrad.yml"
    db = tmp_path / "k.db"
    config.write_text(f"database:\n  url: sqlite:///{db}\n")
    db.touch()
    result = _kestrad(config, "kv", "set", "company.team", "limit", "12", "--type", "NUMBER")
    assert result.returncode == 0, result.stderr
    result = _kestrad(config, "kv", "set", "company.team", "note", "hello world", "--ttl", "PT1H")
    assert result.returncode == 0, result.stderr
    result = _kestrad(config, "kv", "get", "company.team", "limit")
    assert (result.returncode, result.stdout.strip()) == (0, "12")
    listing = _kestrad(config, "kv", "list", "company.team")
    assert listing.returncode == 0
    lines = listing.stdout.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["limit", "note"]
    assert "NUMBER" in lines[0] and "never" in lines[0]
    missing = _kestrad(config, "kv", "get", "company.team", "nope")
    assert missing.returncode == 1 and "no key nope" in missing.stderr
    refused = _kestrad(config, "kv", "set", "company.team", "limit", "x", "--type", "NUMBER")
    assert refused.returncode == 2 and "NUMBER" in refused.stderr
    again = _kestrad(config, "kv", "set", "company.team", "limit", "1", "--no-overwrite")
    assert again.returncode == 1
