"""Kestra's own test flows: every valid one loads, every invalid one is refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from kestrad.flows.loader import FlowLoadError, load_file

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("KESTRAD_CONFORMANCE_DIR", REPO.parent / "shared" / "conformance"))

# Task types used by valid corpus flows that kestrad does not implement yet. A valid flow
# refused only because of them is an expected failure until they land; nothing else is.
PENDING_TYPES = {
    "io.kestra.plugin.core.log.Fetch",
    "io.kestra.plugin.core.flow.WorkingDirectory",
    "io.kestra.plugin.core.storage.LocalFiles",
}


def _files(sub: str) -> list[Path]:
    folder = CORPUS / sub
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in {".yml", ".yaml"})


def _invalid_cases() -> list[dict]:
    cases_file = CORPUS / "cases.yml"
    if not cases_file.is_file():
        return []
    cases = YAML(typ="safe", pure=True).load(cases_file.read_text())
    return [c for c in cases if (c.get("expect") or {}).get("invalid") is True]


needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="conformance corpus not found")


def _only_pending(error: FlowLoadError) -> bool:
    return all(
        "unknown task type" in p.message and any(f"`{t}`" in p.message for t in PENDING_TYPES)
        for p in error.problems
    )


@needs_corpus
@pytest.mark.parametrize("path", _files("valids") + _files("tests"), ids=lambda p: p.name)
def test_valid_flow_loads(path: Path) -> None:
    try:
        flow = load_file(path)
    except FlowLoadError as exc:
        if _only_pending(exc):
            pytest.xfail(f"uses a task type not implemented yet: {exc}")
        raise
    assert flow.tasks
    assert flow.find_task(flow.tasks[0].id) is flow.tasks[0]
    assert flow.source == path.read_text()


@needs_corpus
@pytest.mark.parametrize("case", _invalid_cases(), ids=lambda c: c["id"])
def test_invalid_case_is_rejected(case: dict) -> None:
    with pytest.raises(FlowLoadError) as info:
        load_file(CORPUS / case["file"])
    assert info.value.problems
    for problem in info.value.problems:
        assert problem.file == str(CORPUS / case["file"])
        assert problem.line >= 1 and problem.column >= 1


@needs_corpus
def test_every_invalid_file_has_a_case() -> None:
    covered = {CORPUS / c["file"] for c in _invalid_cases()}
    assert set(_files("invalids")) <= covered


def _messages(name: str) -> list[str]:
    with pytest.raises(FlowLoadError) as info:
        load_file(CORPUS / "invalids" / name)
    return [f"{p.path}: {p.message}" for p in info.value.problems]


@needs_corpus
def test_duplicate_ids_are_all_reported() -> None:
    messages = _messages("duplicate.yaml")
    assert sum("duplicate task id `date`" in m for m in messages) == 3
    assert any(m.startswith("tasks[1].id: duplicate task id `listen`") for m in messages)
    assert any("duplicate trigger id `trigger`" in m for m in messages)


@needs_corpus
def test_unknown_types_in_every_section_are_reported() -> None:
    messages = _messages("invalid-task.yaml")
    assert [m.split(":")[0] for m in messages] == [
        "listeners[0].tasks[0].type",
        "tasks[0].type",
        "errors[0].type",
    ]
    assert all("unknown task type" in m for m in messages)


@needs_corpus
def test_invalid_parallel_reports_each_fault() -> None:
    messages = _messages("invalid-parallel.yaml")
    assert messages[0].startswith("id: invalid flow id ``")
    assert messages[1].startswith("namespace: invalid namespace ``")
    assert "tasks[0]: missing required property `tasks`" in messages
    assert "tasks[1].tasks: `tasks` must not be empty" in messages
    assert "tasks[2].tasks: `tasks` must not be empty" in messages


@needs_corpus
def test_input_validation_file_reports_both_inputs() -> None:
    messages = _messages("inputs-validation.yaml")
    assert messages == [
        "inputs[0].defaults: no `defaults` can be set for inputs of type FILE",
        "inputs[1].itemType: `itemType` cannot be `ARRAY`",
    ]
