"""Expressions taken from Kestra's own test flows (../shared/conformance), with the values the
Java tests expect, rendered against contexts shaped like the runtime's."""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import re
from pathlib import Path
from typing import Any

import pytest

from kestrad.expr import ExpressionError, Renderer, truthy
from kestrad.expr.pebble import translate

renderer = Renderer(globals_={"string": "string", "int": 1, "bool": True, "nested": {"int": 2}})
CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "conformance"


def test_current_each_output_in_nested_loops() -> None:
    # current-output.yaml: three nested ForEach, outputs nested by value, outermost first
    outputs: dict[str, Any] = {"1-1-1_output": {}}
    values = (["v11", "v12"], ["v21", "v22"], ["v31", "v32"])
    for a, b, c in itertools.product(*values):
        context = {
            "parents": [{"taskrun": {"value": b}}, {"taskrun": {"value": a}}],
            "taskrun": {"value": c},
            "outputs": outputs,
        }
        value = renderer.render(
            "{{ parents[1].taskrun.value }}-{{ parents[0].taskrun.value }}-{{ taskrun.value }}",
            context,
        )
        outputs["1-1-1_output"].setdefault(a, {}).setdefault(b, {})[c] = {"value": value}
        returned = renderer.render(
            "return-{{ currentEachOutput(outputs['1-1-1_output']).value }}", context
        )
        assert returned == f"return-{a}-{b}-{c}"
        explicit = "{{ outputs['1-1-1_output'][parents[1].taskrun.value][parents[0].taskrun.value][taskrun.value].value }}"
        assert renderer.render(explicit, context) == f"{a}-{b}-{c}"
    single = {
        "parents": [],
        "taskrun": {"value": "v41"},
        "outputs": {"2-1_output": {"v41": {"value": "v41"}}},
    }
    assert (
        renderer.render("return-{{ currentEachOutput(outputs['2-1_output']).value }}", single)
        == "return-v41"
    )


def test_each_switch_values() -> None:
    context = {
        "parents": [{"taskrun": {"value": "2"}}, {"taskrun": {"value": "b"}}],
        "taskrun": {"value": None},
    }
    assert (
        renderer.render("{{parents[0].taskrun.value}} {{parents[1].taskrun.value}}", context)
        == "2 b"
    )


def test_flow_outputs_map_as_string() -> None:
    # flow-with-outputs.yml: a STRING flow output of a map is its JSON
    context = {"flow": {"id": "flow-with-outputs"}, "outputs": {}}
    value = renderer.render("{{ flow.id }}", context)
    context["outputs"] = {"return": {"value": value}}
    assert renderer.render("{{ outputs.return }}", context) == '{"value":"flow-with-outputs"}'


def test_return_flow_variables() -> None:
    started = dt.datetime(2024, 5, 1, 8, 30, 0, 500000, tzinfo=dt.UTC)
    context = {
        "flow": {"id": "return", "namespace": "io.kestra.tests"},
        "task": {"id": "task-id"},
        "taskrun": {"startDate": started},
    }
    assert renderer.render("{{task.id}}", context) == "task-id"
    assert renderer.render("{{flow.id}}", context) == "return"
    assert (
        renderer.render("{{ flow.namespace ~ '.' ~ flow.id }}", context) == "io.kestra.tests.return"
    )
    assert renderer.render("{{taskrun.startDate}}", context) == "2024-05-01T08:30:00.500Z"


def test_secrets_flow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_MY_SECRET", "eyJzZWNyZXRLZXkiOiJzZWNyZXRWYWx1ZSJ9")
    monkeypatch.setenv(
        "SECRET_NEW_LINE",
        "cGFzc3dvcmR2ZXJ5dmVyeXZleXJsb25ncGFzc3dvcmR2ZXJ5dmVyeXZleXJsb25ncGFzc3dvcmR2\n"
        "ZXJ5dmVyeXZleXJsb25ncGFzc3dvcmR2ZXJ5dmVyeXZleXJsb25ncGFzc3dvcmR2ZXJ5dmVyeXZl\neXJsb25n",
    )
    assert renderer.render("{{ json(secret('my_secret')).secretKey }}", {}) == "secretValue"
    assert renderer.render("{{ secret('new_line') }}", {}) == "passwordveryveryveyrlong" * 5
    assert (
        base64.b64decode("eyJzZWNyZXRLZXkiOiJzZWNyZXRWYWx1ZSJ9") == b'{"secretKey":"secretValue"}'
    )


def test_switch_on_defined_input() -> None:
    # allow-failure.yaml: `{{ inputs.crash is defined }}` selects the "true" case
    assert renderer.render("{{ inputs.crash is defined }}", {"inputs": {"crash": "1"}}) == "true"
    assert renderer.render("{{ inputs.crash is defined }}", {"inputs": {"crash": None}}) == "false"
    assert renderer.render("{{ inputs.crash is defined }}", {"inputs": {}}) == "false"


def test_undefined_inputs_fail_the_task() -> None:
    # variables-invalid.yaml and failed-first.yaml
    with pytest.raises(ExpressionError, match="Unable to find"):
        renderer.render("{{inputs.invalid}}", {"inputs": {}})
    with pytest.raises(ExpressionError, match="Unable to find `missingVar`"):
        renderer.render("{{missingVar}}", {})


def test_retry_conditions_with_undefined_branch() -> None:
    # retry flows: `ko` is undefined on purpose, the task fails until the third attempt
    template = "{{taskrun.attemptsCount == 3 ? 'ok' : ko}}"
    assert renderer.render(template, {"taskrun": {"attemptsCount": 3}}) == "ok"
    with pytest.raises(ExpressionError, match="Unable to find `ko`"):
        renderer.render(template, {"taskrun": {"attemptsCount": 1}})
    assert (
        renderer.render(
            "{{ inputs.failed == 'true' ? ko: taskrun.id }}",
            {"inputs": {"failed": "false"}, "taskrun": {"id": "x"}},
        )
        == "x"
    )


def test_conditions_and_truthiness() -> None:
    context = {
        "outputs": {"output_values": {"values": {"count": "4"}}, "waitfor": {"iterationCount": 2}}
    }
    assert truthy(renderer.render("{{ outputs.output_values.values.count == '4'}}", context))
    assert not truthy(renderer.render("{{ outputs.output_values.values.count != '4'}}", context))
    assert renderer.render_typed("{{ outputs.waitfor.iterationCount + 1 }}", context) == 3


def test_coalescing_on_outputs_and_kv() -> None:
    renderer_with_kv = Renderer()
    renderer_with_kv.register_function("kv", lambda key, namespace=None, errorOnMissing=False: None)
    assert renderer_with_kv.render_typed("{{ kv('my-key').field ?? null }}", {}) is None
    outputs = {"outputs": {"error-t1": {"value": "from error"}}}
    assert (
        renderer.render("{{ outputs.default.value ?? outputs['error-t1'].value }}", outputs)
        == "from error"
    )
    assert renderer.render("{{ outputs.not_existing ?? '' }}", outputs) == ""
    paused = {"outputs": {"pause": {"onResume": {}}}}
    assert renderer.render("{{outputs.pause.onResume.asked ?? 'MISSING'}}", paused) == "MISSING"


def test_jq_on_loop_values() -> None:
    context = {
        "task": {"id": "t"},
        "parent": {"taskrun": {"value": '{"key": "k1", "value": "v1"}'}},
    }
    template = "{{task.id}} > JSON > {{ parent.taskrun.value | jq('.key') }} > {{ parent.taskrun.value | jq('.value') }}"
    assert renderer.render(template, context) == 't > JSON > ["k1"] > ["v1"]'
    assert (
        renderer.render("{{ taskrun.value is json }}", {"taskrun": {"value": '{"a": 1}'}}) == "true"
    )
    assert (
        renderer.render("{{ taskrun.value is json }}", {"taskrun": {"value": "value 1"}}) == "false"
    )


def test_labels_and_globals() -> None:
    context = {"labels": {"key1": "value1", "system": {"correlationId": "abc"}}}
    assert renderer.render("{{ labels.key1 }}", context) == "value1"
    assert renderer.render("{{labels.system.correlationId}}", context) == "abc"
    assert renderer.render("{{ globals.nested.int }} {{ globals.bool }}", {}) == "2 true"


@pytest.mark.skipif(not CONFORMANCE.is_dir(), reason="conformance corpus not available")
def test_every_conformance_expression_translates() -> None:
    """Every `{{ }}` found in the conformance flows parses (except the one meant to fail)."""
    expressions: set[str] = set()
    for path in CONFORMANCE.rglob("*.y*ml"):
        expressions.update(re.findall(r"\{\{.*?\}\}", path.read_text()))
    assert len(expressions) > 50
    failures = [e for e in expressions if not _translates(e)]
    assert failures == [
        "{{parents[0].taskrun.value == 'CUMULATIVE' and {% for entry in json(taskrun.value) %}{{ entry.key }}"
    ]


def _translates(expression: str) -> bool:
    try:
        renderer._jinja().env.from_string(translate(expression).jinja)
    except Exception:
        return False
    return True
