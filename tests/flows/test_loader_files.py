"""Flow files and folders: discovery, reading, and validating many paths at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from kestrad.flows.loader import FlowLoadError, iter_flow_files, load_file, validate_paths

GOOD = "id: {id}\nnamespace: company.team\ntasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
BAD = "id: {id}\nnamespace: company.team\ntasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_iter_flow_files_nested_sorted_and_skips_hidden(tmp_path: Path) -> None:
    write(tmp_path / "b.yml", "")
    write(tmp_path / "a.yaml", "")
    write(tmp_path / "sub" / "deeper" / "c.yml", "")
    write(tmp_path / "notes.txt", "")
    write(tmp_path / ".hidden.yml", "")
    write(tmp_path / ".git" / "d.yml", "")
    write(tmp_path / "sub" / ".cache" / "e.yaml", "")
    found = [p.relative_to(tmp_path).as_posix() for p in iter_flow_files(tmp_path)]
    assert found == ["a.yaml", "b.yml", "sub/deeper/c.yml"]


def test_load_file_sets_file_on_problems(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.yml", BAD.format(id="bad"))
    with pytest.raises(FlowLoadError) as info:
        load_file(path)
    [problem] = info.value.problems
    assert str(problem) == f"{path}:4:5: tasks[0]: missing required property `message`"


def test_load_file_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yml"
    path.write_bytes(b"id: caf\xe9\n")
    with pytest.raises(FlowLoadError) as info:
        load_file(path)
    assert info.value.problems[0].message.startswith("cannot read file")


def test_validate_paths_collects_flows_and_every_problem(tmp_path: Path) -> None:
    write(tmp_path / "dir" / "one.yml", GOOD.format(id="one"))
    write(tmp_path / "dir" / "nested" / "two.yaml", BAD.format(id="two"))
    single = write(tmp_path / "three.yml", GOOD.format(id="three"))
    broken = write(tmp_path / "four.yml", "id: [\n")
    flows, problems = validate_paths([tmp_path / "dir", single, broken, tmp_path / "missing.yml"])
    assert sorted(f.id for f in flows) == ["one", "three"]
    assert [Path(p.file or "").name for p in problems] == ["two.yaml", "four.yml", "missing.yml"]
    assert problems[-1].message == "no such file or directory"


def test_validate_paths_reports_two_files_declaring_one_flow(tmp_path: Path) -> None:
    """As the daemon's folder does (runtime/watcher.py refuses the second file)."""
    first = write(tmp_path / "a" / "one.yml", GOOD.format(id="same"))
    second = write(tmp_path / "b" / "copy.yml", GOOD.format(id="same"))
    flows, problems = validate_paths([tmp_path])
    assert [f.id for f in flows] == ["same"]
    assert [p.file for p in problems] == [str(second)]
    assert problems[0].path == "id"
    assert str(first) in problems[0].message and "already declared" in problems[0].message


def test_validate_paths_applies_global_defaults(tmp_path: Path) -> None:
    from kestrad.model.flow import PluginDefault

    path = write(tmp_path / "two.yml", BAD.format(id="two"))
    defaults = [PluginDefault(type="io.kestra.plugin.core.log.Log", values={"message": "x"})]
    flows, problems = validate_paths([path], global_defaults=defaults)
    assert not problems and flows[0].tasks[0].message == "x"


def test_validate_paths_checks_each_document_of_a_file_on_its_own(tmp_path: Path) -> None:
    """Several `---`-separated flows in one file are validated one by one, as Kestra's
    `POST /flows/validate` does (webserver FlowControllerTest, validate of several
    flows): a broken document does not hide the good ones, and its problem's line counts
    from the top of the file."""
    path = write(
        tmp_path / "many.yml",
        GOOD.format(id="one") + "---\n" + BAD.format(id="two") + "---\n" + GOOD.format(id="one"),
    )
    flows, problems = validate_paths([path])
    assert [f.id for f in flows] == ["one"]
    assert [(p.line, p.path, p.message) for p in problems] == [
        (11, "tasks[0]", "missing required property `message`"),
        (
            14,
            "id",
            "company.team/one is already declared by line 1 of this file; "
            "two files cannot declare the same flow",
        ),
    ]


def test_validate_paths_collects_deprecation_notices_as_warnings(tmp_path: Path) -> None:
    legacy = GOOD.format(id="old").replace(
        "io.kestra.plugin.core.log.Log", "io.kestra.core.tasks.log.Log"
    )
    path = write(tmp_path / "old.yml", GOOD.format(id="new") + "---\n" + legacy)
    warnings: list = []
    flows, problems = validate_paths([path], warnings=warnings)
    assert not problems and [f.id for f in flows] == ["new", "old"]
    assert [str(w) for w in warnings] == [
        f"{path}:12:11: tasks[0].type: `io.kestra.core.tasks.log.Log` is replaced by "
        "`io.kestra.plugin.core.log.Log`"
    ]
