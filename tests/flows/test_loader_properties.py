"""Typed task properties checked when the flow loads (issue 11 item 8).

Kestra types its task properties (`Property<Duration>`, `Property<Integer>`, …) and
reads them with Jackson: `YamlParserTest.parse` asserts `timeout: PT60M` and a retry
`interval` come out as durations, `YamlParserTest.invalidProperty` that a wrong property
is refused with its path. Here a literal of the wrong kind is refused at load time with
its file:line:col and its name; an expression is accepted and checked once rendered.
"""

from __future__ import annotations

import textwrap

import pytest

from kestrad.flows.loader import FlowLoadError, load_flow, load_warnings
from kestrad.flows.properties import typed_fields
from kestrad.tasks import registry
from kestrad.tasks.props import Kind

SLEEP = "io.kestra.plugin.core.flow.Sleep"


def flow_yaml(tasks: str) -> str:
    return "id: typed\nnamespace: company.team\ntasks:\n" + textwrap.indent(
        textwrap.dedent(tasks), "  "
    )


def problems(tasks: str) -> list[str]:
    with pytest.raises(FlowLoadError) as info:
        load_flow(flow_yaml(tasks), file="typed.yml")
    return [str(p) for p in info.value.problems]


def test_a_list_given_as_a_duration_is_refused_with_its_position_and_name() -> None:
    # The reproduction: this loaded, then failed with "unhashable type: 'list'".
    [problem] = problems(
        f"""\
        - id: nap
          type: {SLEEP}
          duration: [1, 2]
        """
    )
    assert problem.startswith("typed.yml:6:15: tasks[0].duration: `duration` must be")
    assert "ISO-8601 duration" in problem and "[1, 2]" in problem


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("duration: PT5X", "`duration` must be an ISO-8601 duration"),
        ("duration: 5", "`duration` must be an ISO-8601 duration"),
        ("duration: PT1S\n  timeout: soon", "`timeout` must be an ISO-8601 duration"),
        (
            "duration: PT1S\n  retry: {type: constant, interval: often, maxAttempt: 2}",
            "retry.interval: `interval` must be an ISO-8601 duration",
        ),
    ],
)
def test_bad_duration_literals_are_refused(line: str, expected: str) -> None:
    found = problems(f"- id: nap\n  type: {SLEEP}\n  {line}\n")
    assert any(expected in p for p in found), found


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        (
            "type: io.kestra.plugin.scripts.shell.Commands\n  commands: [ls]\n  failFast: maybe",
            "`failFast` must be true or false, got `maybe`",
        ),
        (
            "type: io.kestra.plugin.scripts.shell.Commands\n  commands: [ls]\n  env: not-a-map",
            "`env` must be a map, got `not-a-map`",
        ),
        (
            "type: io.kestra.plugin.core.storage.Split\n  from: kestra:///a/b.txt\n  rows: many",
            "`rows` must be an integer, got `many`",
        ),
        (
            "type: io.kestra.plugin.core.kv.Set\n  key: k\n  value: v\n  overwrite: [1]",
            "`overwrite` must be true or false",
        ),
        (
            "type: io.kestra.plugin.core.execution.Labels\n  labels: 12",
            "`labels` must be a map or a list",
        ),
    ],
)
def test_literals_of_every_kind_are_checked(task: str, expected: str) -> None:
    found = problems(f"- id: t\n  {task}\n")
    assert any(expected in p for p in found), found


def test_expressions_and_good_literals_load() -> None:
    flow = load_flow(
        flow_yaml(
            f"""\
            - id: nap
              type: {SLEEP}
              duration: "{{{{ inputs.wait }}}}"
              timeout: PT1M
              retry: {{type: constant, interval: PT1S, maxAttempt: 2}}
            - id: sh
              type: io.kestra.plugin.scripts.shell.Commands
              commands: echo hi
              failFast: "{{{{ true }}}}"
              warningOnStdErr: false
              env: {{A: "1"}}
            - id: split
              type: io.kestra.plugin.core.storage.Split
              from: kestra:///a/b.txt
              rows: "3"
            """
        )
    )
    assert [t.id for t in flow.tasks] == ["nap", "sh", "split"]


def test_no_task_property_is_left_untyped() -> None:
    """Every property of every built-in task has a type the loader can check: no `Any`
    (free-form values are the explicit `Data` kind)."""
    import typing

    for name, cls in registry.all_types().items():
        hints = typing.get_type_hints(cls, include_extras=True)
        for field in __import__("msgspec").structs.fields(cls):
            hint = hints[field.name]
            if field.name in {"errors", "finally_"} or field.name in getattr(
                cls, "child_fields", ()
            ):
                continue
            if field.name in getattr(cls, "child_maps", ()) or field.name in getattr(
                cls, "dag_fields", ()
            ):
                continue
            assert hint is not typing.Any, f"{name}.{field.encode_name} is typed Any"
    assert typed_fields(registry.resolve(SLEEP))["duration"] is Kind.DURATION


def test_an_unknown_property_suggests_the_closest_one() -> None:
    found = problems(f"- id: nap\n  type: {SLEEP}\n  duraton: PT1S\n")
    assert any("unknown property `duraton`" in p and "did you mean `duration`?" in p for p in found)


def test_broken_expression_syntax_is_a_positioned_warning() -> None:
    # Kestra loads such a flow and fails the task when it renders (the public corpus'
    # `flowable-with-parent-fail` relies on it), so this warns instead of refusing.
    flow = load_flow(
        flow_yaml(
            """\
            - id: say
              type: io.kestra.plugin.core.log.Log
              message: "{{ 1 + }}"
            """
        ),
        file="typed.yml",
    )
    [warning] = load_warnings(flow)
    assert str(warning).startswith("typed.yml:6:14: tasks[0].message: this expression will not")


def test_expression_syntax_of_variables_outputs_and_triggers_is_checked_too() -> None:
    source = (
        'id: typed\nnamespace: company.team\nvariables:\n  x: "{{ 1 + }}"\n'
        "tasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
        "triggers:\n  - id: s\n    type: io.kestra.plugin.core.trigger.Schedule\n"
        "    cron: '* * * * *'\n    inputs:\n      a: \"{{ now( }}\"\n"
    )
    warnings = [str(w) for w in load_warnings(load_flow(source, file="typed.yml"))]
    assert [w.split(": this expression will not render")[0] for w in warnings] == [
        "typed.yml:4:6: variables.x",
        "typed.yml:14:10: triggers[0].inputs.a",
    ]


def test_deprecated_properties_are_warnings() -> None:
    source = (
        "id: typed\nnamespace: company.team\ninputs:\n  - name: x\n    type: STRING\n"
        "tasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
        "    retry: {type: constant, interval: PT1S, maxAttempt: 2}\n"
    )
    warnings = [str(w) for w in load_warnings(load_flow(source, file="typed.yml"))]
    assert warnings == [
        "typed.yml:4:5: inputs[0].name: `name` is replaced by `id`",
        "typed.yml:10:45: tasks[0].retry.maxAttempt: `maxAttempt` is replaced by `maxAttempts`",
    ]


def test_stored_revisions_reread_leniently_skip_the_literal_checks() -> None:
    """A revision stored before these checks still loads from the database (the daemon
    re-reads stored flows with strict=False); only new files and API writes are refused."""
    source = flow_yaml(f"- id: nap\n  type: {SLEEP}\n  duration: PT5X\n")
    with pytest.raises(FlowLoadError):
        load_flow(source)
    assert load_flow(source, strict=False).tasks[0].duration == "PT5X"


def test_durations_of_waitfor_and_sla_blocks_are_checked() -> None:
    source = (
        "id: typed\nnamespace: company.team\n"
        "sla:\n  - {id: s, type: MAX_DURATION, behavior: FAIL, duration: soon}\n"
        "tasks:\n  - id: w\n    type: io.kestra.plugin.core.flow.WaitFor\n"
        '    condition: "{{ true }}"\n    checkFrequency: {interval: often}\n'
        "    tasks:\n      - {id: a, type: io.kestra.plugin.core.log.Log, message: hi}\n"
    )
    with pytest.raises(FlowLoadError) as info:
        load_flow(source, file="typed.yml")
    assert [f"{p.path}: {p.message.split(' (')[0]}" for p in info.value.problems] == [
        "sla[0].duration: `duration` must be an ISO-8601 duration",
        "tasks[0].checkFrequency.interval: `interval` must be an ISO-8601 duration",
    ]
