"""YAML-level faults and exact positions: what an editor needs to jump to the problem."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kestrad.flows.loader import FlowLoadError, load_flow
from kestrad.flows.problems import Problem, format_path
from kestrad.flows.yaml_source import parse_yaml

HEAD = "id: demo\nnamespace: company.team\n"


def problems(source: str, **kwargs: object) -> list[Problem]:
    with pytest.raises(FlowLoadError) as info:
        load_flow(source, file="flow.yml", **kwargs)  # type: ignore[arg-type]
    return info.value.problems


def where(problem: Problem) -> tuple[int, int, str]:
    return problem.line, problem.column, problem.path


def test_syntax_error_has_its_position() -> None:
    [p] = problems("id: x\nnamespace: [a\ntasks: []\n")
    assert (p.line, p.column) == (3, 6)
    assert p.message.startswith("YAML syntax error:")


def test_tab_indentation_is_a_syntax_error_at_the_tab() -> None:
    [p] = problems("id: x\n\tnamespace: n\n")
    assert (p.line, p.column) == (2, 1)


def test_duplicate_key_is_positioned_on_the_second_key() -> None:
    source = (
        HEAD
        + "tasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: 1\n    message: 2\n"
    )
    [p] = problems(source)
    assert where(p) == (7, 5, "tasks[0].message")
    assert 'found duplicate key "message"' in p.message
    assert "line 6" in p.message


def test_several_documents_are_refused() -> None:
    [p] = problems(HEAD + "---\nid: other\n")
    assert "single document" in p.message
    assert p.line == 3


@pytest.mark.parametrize("source", ["", "   \n", "# only a comment\n"])
def test_empty_file(source: str) -> None:
    [p] = problems(source)
    assert p.message.startswith("empty file")
    assert (p.line, p.column) == (1, 1)


@pytest.mark.parametrize("source", ["- a\n- b\n", "just text\n", "42\n"])
def test_document_must_be_a_mapping(source: str) -> None:
    [p] = problems(source)
    assert "must be a mapping" in p.message


def test_unknown_property_is_positioned_on_its_key() -> None:
    source = HEAD + (
        "tasks:\n"
        "  - id: hello\n"
        "    type: io.kestra.plugin.core.log.Log\n"
        "    message: hi\n"
        "    colour: blue\n"
    )
    [p] = problems(source)
    assert where(p) == (7, 5, "tasks[0].colour")
    assert "unknown property `colour`" in p.message
    assert "io.kestra.plugin.core.log.Log" in p.message


def test_wrong_type_is_positioned_on_the_value() -> None:
    source = HEAD + (
        "tasks:\n"
        "  - id: p\n"
        "    type: io.kestra.plugin.core.flow.Parallel\n"
        "    concurrent: many\n"
        "    tasks:\n"
        "      - id: a\n"
        "        type: io.kestra.plugin.core.log.Log\n"
        "        message: hi\n"
    )
    [p] = problems(source)
    assert where(p) == (6, 17, "tasks[0].concurrent")
    assert p.message == "`concurrent` must be an integer, got `many`"


def test_nested_path_points_inside_flowables() -> None:
    source = HEAD + (
        "tasks:\n"
        "  - id: check\n"
        "    type: io.kestra.plugin.core.flow.If\n"
        "    condition: '{{ true }}'\n"
        "    then:\n"
        "      - id: one\n"
        "        type: io.kestra.plugin.core.log.Log\n"
        "        message: one\n"
        "      - id: two\n"
        "        type: io.kestra.plugin.core.log.Log\n"
        "        message: two\n"
        "        level: LOUD\n"
    )
    [p] = problems(source)
    assert where(p) == (14, 16, "tasks[0].then[1].level")


def test_missing_property_is_positioned_on_its_mapping() -> None:
    source = HEAD + "tasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n"
    [p] = problems(source)
    assert where(p) == (4, 5, "tasks[0]")
    assert p.message == "missing required property `message`"


def test_problem_string_format() -> None:
    problem = Problem(file="a.yml", line=3, column=7, path="tasks[0].id", message="bad")
    assert str(problem) == "a.yml:3:7: tasks[0].id: bad"
    assert str(Problem(file=None, line=1, column=1, path="", message="m")) == "<flow>:1:1: m"


def test_error_message_lists_every_problem_in_file_order() -> None:
    source = (
        "id: 'bad id'\n"
        "namespace: Upper\n"
        "tasks:\n"
        "  - id: a\n"
        "    type: io.kestra.plugin.core.debug.Nope\n"
        "  - id: b\n"
        "    type: io.kestra.plugin.core.log.Log\n"
        "    message: x\n"
        "    extra: 1\n"
    )
    found = problems(source)
    assert [p.line for p in found] == sorted(p.line for p in found)
    assert [p.path for p in found] == ["id", "namespace", "tasks[0].type", "tasks[1].extra"]
    text = str(FlowLoadError(found))
    assert text.count("\n") == 3
    assert text.startswith("flow.yml:1:5: id: invalid flow id `bad id`")


def test_scalars_follow_yaml_core_schema_and_timestamps_stay_text() -> None:
    data, _, found = parse_yaml(
        "a: 2024-01-01\nb: yes\nc: 0x10\nd: 1_000\ne: ~\nf: .inf\ng: true\n1: key\n"
    )
    assert not found
    assert data == {
        "a": "2024-01-01",
        "b": "yes",
        "c": 16,
        "d": 1000,
        "e": None,
        "f": float("inf"),
        "g": True,
        "1": "key",
    }


def test_anchors_and_merge_keys() -> None:
    data, positions, found = parse_yaml("base: &b {x: 1, y: 2}\nchild:\n  <<: *b\n  y: 3\n")
    assert not found
    assert data["child"] == {"y": 3, "x": 1}
    assert positions.locate(("child", "y")) == (4, 6)


def test_recursive_alias_is_reported() -> None:
    _, _, found = parse_yaml("a: &a [*a]\n")
    assert found and "recursive" in found[0].message


def test_positions_fall_back_to_the_closest_ancestor() -> None:
    _, positions, _ = parse_yaml("tasks:\n  - id: a\n")
    assert positions.locate(("tasks", 0, "nothing", "deeper")) == (2, 5)
    assert positions.locate(("tasks", 0, "id"), key=True) == (2, 5)
    assert positions.locate(("unknown",)) == (1, 1)


@given(
    st.lists(
        st.one_of(st.integers(0, 50), st.from_regex(r"[a-z][a-zA-Z]{0,8}", fullmatch=True)),
        max_size=8,
    )
)
def test_format_path(parts: list[str | int]) -> None:
    text = format_path(parts)
    names = [p for p in parts if isinstance(p, str)]
    indexes = [p for p in parts if isinstance(p, int)]
    assert text.count("[") == len(indexes)
    assert all(name in text for name in names)
    if parts and isinstance(parts[0], str):
        assert text.startswith(parts[0])
