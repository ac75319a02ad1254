"""pluginDefaults: prefix matching, forced or not, deep merge, flow before global."""

from __future__ import annotations

import textwrap
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kestrad.flows.loader import FlowLoadError, load_flow
from kestrad.flows.plugin_defaults import deep_merge
from kestrad.model.flow import Flow, PluginDefault


def load(body: str, **kwargs: Any) -> Flow:
    return load_flow("id: demo\nnamespace: company.team\n" + textwrap.dedent(body), **kwargs)


TWO_LOGS = """
tasks:
  - id: plain
    type: io.kestra.plugin.core.log.Log
  - id: own
    type: io.kestra.plugin.core.log.Log
    message: mine
    level: DEBUG
"""


def test_defaults_supply_required_properties_and_lose_to_task_values() -> None:
    flow = load(
        TWO_LOGS
        + """
pluginDefaults:
  - type: io.kestra.plugin.core.log.Log
    values: {message: default, level: WARN}
"""
    )
    plain, own = flow.tasks
    assert (plain.message, plain.level) == ("default", "WARN")
    assert (own.message, own.level) == ("mine", "DEBUG")
    assert flow.plugin_defaults and flow.plugin_defaults[0].type == "io.kestra.plugin.core.log.Log"


def test_prefix_match_and_forced_defaults_win() -> None:
    flow = load(
        TWO_LOGS
        + """
pluginDefaults:
  - type: io.kestra.plugin.core.log
    values: {message: default}
  - type: io.kestra.plugin.core
    forced: true
    values: {level: ERROR}
"""
    )
    assert [(t.message, t.level) for t in flow.tasks] == [("default", "ERROR"), ("mine", "ERROR")]


def test_deprecated_task_defaults_and_legacy_type_names() -> None:
    flow = load(
        """
tasks:
  - id: legacy
    type: io.kestra.core.tasks.log.Log
taskDefaults:
  - type: io.kestra.plugin.core.log.Log
    values: {message: from task defaults}
"""
    )
    assert flow.tasks[0].message == "from task defaults"
    flow = load(
        TWO_LOGS
        + """
pluginDefaults:
  - type: io.kestra.core.tasks.log.Log
    values: {message: legacy default}
"""
    )
    assert flow.tasks[0].message == "legacy default"


def test_defaults_reach_nested_tasks_and_triggers() -> None:
    flow = load(
        """
tasks:
  - id: seq
    type: io.kestra.plugin.core.flow.Sequential
    tasks:
      - id: inner
        type: io.kestra.plugin.core.log.Log
triggers:
  - id: hourly
    type: io.kestra.plugin.core.trigger.Schedule
pluginDefaults:
  - type: io.kestra.plugin.core.log.Log
    values: {message: nested}
  - type: io.kestra.plugin.core.trigger.Schedule
    values: {cron: "0 * * * *", timezone: UTC}
"""
    )
    assert flow.find_task("inner").message == "nested"  # type: ignore[union-attr]
    assert flow.triggers and flow.triggers[0].cron == "0 * * * *"


def test_flow_defaults_win_over_global_ones() -> None:
    global_defaults = [
        PluginDefault(
            type="io.kestra.plugin.core.log.Log", values={"message": "global", "level": "WARN"}
        ),
        PluginDefault(type="io.kestra.plugin.core.log.Log", forced=True, values={"level": "TRACE"}),
    ]
    flow = load(
        TWO_LOGS
        + """
pluginDefaults:
  - type: io.kestra.plugin.core.log.Log
    values: {message: flow}
""",
        global_defaults=global_defaults,
    )
    assert [(t.message, t.level) for t in flow.tasks] == [("flow", "TRACE"), ("mine", "TRACE")]


def test_earliest_forced_default_wins() -> None:
    global_defaults = [
        PluginDefault(type="io.kestra.plugin.core.log", forced=True, values={"level": "TRACE"})
    ]
    flow = load(
        TWO_LOGS
        + """
pluginDefaults:
  - type: io.kestra.plugin.core.log.Log
    forced: true
    values: {level: ERROR, message: forced}
""",
        global_defaults=global_defaults,
    )
    assert [(t.message, t.level) for t in flow.tasks] == [("forced", "ERROR"), ("forced", "ERROR")]


def problems(body: str) -> list[str]:
    try:
        load(body)
    except FlowLoadError as exc:
        return [f"{p.line}:{p.column}: {p.path}: {p.message}" for p in exc.problems]
    raise AssertionError("expected a FlowLoadError")


def test_a_default_with_an_unknown_property_is_reported_on_each_task() -> None:
    found = problems(
        TWO_LOGS
        + "pluginDefaults:\n  - type: io.kestra.plugin.core.log.Log\n    values: {colour: red}\n"
    )
    assert found == [
        "5:5: tasks[0]: missing required property `message`",
        "5:5: tasks[0].colour: unknown property `colour` on io.kestra.plugin.core.log.Log",
        "7:5: tasks[1].colour: unknown property `colour` on io.kestra.plugin.core.log.Log",
    ]


def test_bad_plugin_default_entry() -> None:
    assert problems(TWO_LOGS + "pluginDefaults:\n  - values: {}\n  - oops\n") == [
        "5:5: tasks[0]: missing required property `message`",
        "12:5: pluginDefaults[0]: missing required property `type`",
        "13:5: pluginDefaults[1]: a plugin default must be a mapping `{type, values, forced}`",
    ]


def test_deep_merge_semantics() -> None:
    base = {"a": 1, "m": {"x": 1, "y": 2}, "l": [1, 2], "n": 5}
    top = {"a": 2, "m": {"y": 3, "z": 4}, "l": [2, 3], "n": None, "new": "v"}
    assert deep_merge(base, top) == {
        "a": 2,
        "m": {"x": 1, "y": 3, "z": 4},
        "l": [1, 2, 3],
        "n": 5,
        "new": "v",
    }
    assert base == {"a": 1, "m": {"x": 1, "y": 2}, "l": [1, 2], "n": 5}


_values = st.recursive(
    st.one_of(st.integers(), st.text(max_size=5), st.booleans()),
    lambda inner: st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=10,
)
_maps = st.dictionaries(st.text(max_size=3), _values, max_size=4)


@given(_maps)
def test_deep_merge_with_empty_is_identity(value: dict[str, Any]) -> None:
    assert deep_merge(value, {}) == value
    assert deep_merge({}, value) == value


@given(_maps, _maps)
def test_deep_merge_top_scalars_win(base: dict[str, Any], top: dict[str, Any]) -> None:
    merged = deep_merge(base, top)
    assert set(merged) == set(base) | set(top)
    for key, value in top.items():
        if not isinstance(value, dict) or not isinstance(base.get(key), dict):
            assert merged[key] == value
