"""Kestra's and Pebble's filters, functions and tests."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest

from kestrad.expr import ExpressionError, Renderer

renderer = Renderer()


def render(template: str, **context: Any) -> str:
    return renderer.render(template, context)


def typed(template: str, **context: Any) -> Any:
    return renderer.render_typed(template, context)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # strings
        ("{{ 'Hello' | upper }} {{ 'Hello' | lower }}", "HELLO hello"),
        ("{{ '  padded \t' | trim }}", "padded"),
        ("{{ 'hello world' | capitalize }}", "Hello world"),
        ("{{ 'hello big world' | title }}", "Hello Big World"),
        ("{{ 'this is a long sentence.' | abbreviate(7) }}", "this..."),
        ("{{ 'short' | abbreviate(10) }}", "short"),
        ("{{ 'Hello World, été!' | slugify }}", "hello-world-ete"),
        ("{{ '--A  b__c--' | slugify }}", "a-b-c"),
        ("{{ 'a.b.c' | substringBefore('.') }}", "a"),
        ("{{ 'a.b.c' | substringBeforeLast('.') }}", "a.b"),
        ("{{ 'a.b.c' | substringAfter('.') }}", "b.c"),
        ("{{ 'a.b.c' | substringAfterLast('.') }}", "c"),
        ("{{ 'abc' | substringBefore('z') }}|{{ 'abc' | substringAfter('z') }}", "abc|"),
        ("{{ 'kestra' | startsWith('kes') }} {{ 'kestra' | endsWith('tra') }}", "true true"),
        ("{{ 'kestra' | startsWith('x') }}", "false"),
        ("{{ 'a b&c=d/é' | urlencode }}", "a+b%26c%3Dd%2F%C3%A9"),
        ("{{ 'a+b%26c' | urldecode }}", "a b&c"),
        ("{{ 'kestra' | base64encode }} {{ 'a2VzdHJh' | base64decode }}", "a2VzdHJh kestra"),
        ("{{ 'abc' | md5 }}", "900150983cd24fb0d6963f7d28e17f72"),
        ("{{ 'abc' | sha1 }}", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        (
            "{{ 'abc' | sha256 }}",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        ("{{ 'abc' | sha512 | length }}", "128"),
        ("{{ 'it\\'s' | escapeChar('single') }}", "it\\'s"),
        ("{{ 'say \"x\"' | escapeChar('double') }}", 'say \\"x\\"'),
        ("{{ 'it\\'s' | escapeChar('shell') }}", "it'\\''s"),
        # replace
        ("{{ 'aabbcc' | replace({'a': 'x', 'c': 'z'}) }}", "xxbbzz"),
        ("{{ 'a1b22' | replace({'\\d+': '#'}, regexp=true) }}", "a#b#"),
        ("{{ 'john smith' | replace({'(\\w+) (\\w+)': '$2, $1'}, regexp=true) }}", "smith, john"),
        ("{{ {'k': 'aa', 'l': ['a', 1]} | replace({'a': 'b'}) }}", '{"k":"bb","l":["b","1"]}'),
        # split is Java's String.split (regex, trailing empty strings dropped)
        ("{{ 'a,b,,c,,' | split(',') }}", '["a","b","","c"]'),
        ("{{ 'a,b,c' | split(',', 2) }}", '["a","b,c"]'),
        ("{{ 'a1b2c' | split('\\d') }}", '["a","b","c"]'),
        # indent / nindent
        ("{{ 'a\nb' | indent(2) }}", "a\n  b"),
        ("{{ 'a\nb' | nindent(2) }}", "\n  a\n  b"),
        ("{{ 'a\nb' | indent(1, '>') }}", "a\n>b"),
        # collections
        ("{{ [1, 2, 3] | first }} {{ [1, 2, 3] | last }}", "1 3"),
        ("{{ 'abc' | first }} {{ 'abc' | last }}", "a c"),
        ("{{ {'k': 'v', 'x': 'y'} | first }}", "k=v"),
        ("{{ [] | first }}", ""),
        (
            "{{ [1, 2, 3] | length }} {{ 'abcd' | length }} {{ {'a': 1} | length }} {{ null | length }}",
            "3 4 1 0",
        ),
        ("{{ {'a': 1, 'b': 2} | keys }} {{ {'a': 1, 'b': 2} | values }}", '["a","b"] [1,2]'),
        ("{{ ['x', 'y'] | keys }}", "[0,1]"),
        ("{{ [1, 2, 3] | join(', ') }} {{ ['a', null, 1.0] | join }}", "1, 2, 3 anull1.0"),
        (
            "{{ [3, 1, 2] | sort }} {{ [3, 1, 2] | rsort }} {{ [1, 2, 3] | reverse }}",
            "[1,2,3] [3,2,1] [3,2,1]",
        ),
        ("{{ 'abc' | reverse }}", "cba"),
        ("{{ [1, 2, 3, 4] | slice(1, 3) }} {{ 'kestra' | slice(3) }}", "[2,3] tra"),
        ("{{ [1, 2, 3, 4, 5] | chunk(2) }}", "[[1,2],[3,4],[5]]"),
        ("{{ [[1, 2], [3, [4]], 5] | flatten }}", "[1,2,3,[4],5]"),
        ("{{ [1, 2, 1, 3, 2] | distinct }}", "[1,2,3]"),
        (
            "{{ {'a': 1} | merge({'b': 2, 'a': 3}) }} {{ [1] | merge([2, 3]) }}",
            '{"a":3,"b":2} [1,2,3]',
        ),
        ("{{ -5 | abs }} {{ -2.5 | abs }}", "5 2.5"),
        # numbers
        ("{{ '42' | number }} {{ '42' | number + 1 }}", "42 43"),
        ("{{ '4.5' | number }} {{ '1.0' | number }} {{ '0x1F' | number }}", "4.5 1.0 31"),
        (
            "{{ '42' | number('FLOAT') }} {{ '7' | number('LONG') }} {{ '1.10' | number('BIGDECIMAL') }}",
            "42.0 7 1.10",
        ),
        ("{{ '12L' | number }} {{ '2.5f' | number }}", "12 2.5"),
        # json / yaml
        ("{{ {'a': [1, 2.0]} | json }}", '{"a":[1,2.0]}'),
        ("{{ {'a': [1, 2.0]} | toJson }}", '{"a":[1,2.0]}'),
        ("{{ 'x\"y' | json }}", '"x\\"y"'),
        ("{{ null | toJson }}", "null"),
        ("{{ json('{\"a\": [1, 2.5]}').a[1] }}", "2.5"),
        ("{{ fromJson('[1, {\"b\": null}]') }}", '[1,{"b":null}]'),
        ("{{ fromJson(null) is null }}", "true"),
        ("{{ {'a': {'b': [1, 2]}} | yaml }}", "a:\n  b:\n  - 1\n  - 2\n"),
        ("{{ yaml('a: 1\nb: [x, y]').b[1] }}", "y"),
        # jq returns the list of results
        ("{{ {'a': [{'b': 1}, {'b': 2}]} | jq('.a[].b') }}", "[1,2]"),
        ("{{ {'a': {'b': 'c'}} | jq('.a.b') | first }}", "c"),
        ("{{ '{\"x\": [1, 2, 3]}' | jq('.x | add') }}", "[6]"),
        ('{{ \'{"key": "k1", "value": 1}\' | jq(\'.key\') }}', '["k1"]'),
        # className
        (
            "{{ 'x' | className }} {{ 1 | className }} {{ 1.5 | className }} {{ [] | className }}",
            "java.lang.String java.lang.Integer java.lang.Double java.util.ArrayList",
        ),
        # functions
        (
            "{{ range(1, 5) }} {{ range(0, 10, 5) }} {{ range('a', 'c') }}",
            '[1,2,3,4,5] [0,5,10] ["a","b","c"]',
        ),
        ("{{ min(4, 2, 8) }} {{ max(4, 2, 8) }} {{ max([1, 9]) }}", "2 8 9"),
        ("{{ uuid() is defined }} {{ uuid() | length }}", "true 36"),
        # tests
        (
            "{{ '{\"a\": 1}' is json }} {{ '[1]' is json }} {{ 'nope' is json }} {{ {'a': 1} is json }}",
            "true true false true",
        ),
        (
            "{{ 3 is odd }} {{ 4 is even }} {{ 'x' is map }} {{ 'x' is iterable }}",
            "true true false false",
        ),
        (
            "{{ null is empty }} {{ {} is empty }} {{ [] is empty }} {{ 0 is empty }}",
            "true true true false",
        ),
    ],
)
def test_filters_and_functions(template: str, expected: str) -> None:
    assert render(template) == expected


def test_typed_results() -> None:
    assert typed("{{ range(1, 3) }}") == [1, 2, 3]
    assert typed("{{ '42' | number }}") == 42
    assert typed("{{ {'a': 1} | keys }}") == ["a"]
    assert typed('{{ json(\'{"a": {"b": true}}\') }}') == {"a": {"b": True}}
    assert typed("{{ [1, 2] | jq('.[]') }}") == [1, 2]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ 'abc' | number }}", "not a valid number"),
        ("{{ [1] | number }}", "can only be applied to String"),
        ("{{ 'x' | jq('.[') }}", "Invalid jq expression"),
        ("{{ 'not json' | jq('.a') }}", "Failed to resolve JQ expression"),
        ("{{ fromJson('{bad') }}", "Invalid json"),
        ("{{ fromJson(1) }}", "with type string"),
        ("{{ [1, 2] | slice(1, 5) }}", "toIndex must be smaller than input size"),
        ("{{ [1, 2] | slice(2, 1) }}", "toIndex must be greater than fromIndex"),
        ("{{ range(1, 3, 0) }}", "must be different than 0"),
        ("{{ range(1, 2000000) }}", "cannot produce more than 1000000 elements"),
        ("{{ 'a' | chunk(2) }}", "can only be applied to List"),
        ("{{ 'x' | keys }}", "can only be applied to List, Map, Array"),
        ("{{ [1] | values }}", "can only be applied to Map"),
        ("{{ 'a' | escapeChar('weird') }}", "either 'single', 'double', or 'shell'"),
        ("{{ 'a' | split }}", "missing delimiter"),
        ("{{ 'x' | replace('y') }}", "replace_pairs"),
        ("{{ [1, 'a'] | sort }}", "Unable to sort"),
        ("{{ 'a' * 2 }}", "invalid operands for mathematical operation [MULTIPLICATION]"),
        ("{{ 1 / 0 }}", "/ by zero"),
        ("{{ 5 % 0 }}", "/ by zero"),
        ("{{ randomInt(5, 1) }}", "upper is less than lower"),
        ("{{ randomInt('a', 2) }}", "of type Long"),
        ("{{ nosuchfunction(1) }}", "Function or Macro [nosuchfunction] does not exist."),
        ("{{ 'a' contains 'a' contains 'b' }}", "Contains operator can only be used"),
    ],
)
def test_misuse_is_an_expression_error(template: str, message: str) -> None:
    with pytest.raises(ExpressionError) as info:
        render(template)
    assert message in str(info.value)


def test_filters_on_undefined_fail_but_default_does_not() -> None:
    for template in (
        "{{ missing | upper }}",
        "{{ missing | length }}",
        "{{ missing | json }}",
        "{{ missing | jq('.') }}",
    ):
        with pytest.raises(ExpressionError, match="Unable to find `missing`"):
            render(template)
    assert render("{{ missing | default('ok') }}") == "ok"
    assert render("{{ missing | upper | default('ok') }}") == "ok"


def test_null_input_gives_null_for_most_filters() -> None:
    for name in (
        "upper",
        "lower",
        "trim",
        "slugify",
        "keys",
        "values",
        "date",
        "jq('.')",
        "split(',')",
        "number",
    ):
        assert render("{{ (null | " + name + ") is null }}") == "true", name


def test_random_int_bounds() -> None:
    values = {int(render("{{ randomInt(1, 4) }}")) for _ in range(200)}
    assert values <= {1, 2, 3}
    assert len(values) > 1
    assert render("{{ randomInt(7, 7) }}") == "7"


def test_ids_are_unique() -> None:
    ids = {render("{{ id() }}") for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"[0-9A-Za-z]{15,22}", value) for value in ids)
    uuids = {render("{{ uuid() }}") for _ in range(50)}
    assert len(uuids) == 50


def test_secret_reads_base64_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "SECRET_MY_SECRET", base64.b64encode(b'{"secretKey": "secretValue", "n": 1}').decode()
    )
    long_value = "passwordveryveryveyrlong" * 5
    encoded = base64.encodebytes(long_value.encode()).decode()  # with line breaks every 76 chars
    assert "\n" in encoded
    monkeypatch.setenv("SECRET_NEW_LINE", encoded)
    assert render("{{ json(secret('my_secret')).secretKey }}") == "secretValue"
    assert render("{{ secret('MY_SECRET', subkey='secretKey') }}") == "secretValue"
    assert render("{{ secret('new_line') }}") == long_value
    with pytest.raises(ExpressionError, match="Cannot find secret for key 'absent'"):
        render("{{ secret('absent') }}")
    with pytest.raises(ExpressionError, match="sub-key 'nope'"):
        render("{{ secret('my_secret', subkey='nope') }}")


def test_current_each_output_walks_parents_then_own_value() -> None:
    context = {
        "outputs": {"t": {"outer": {"inner": {"own": {"value": "deep"}}}, "flat": {"value": "f"}}},
        "parents": [{"taskrun": {"value": "inner"}}, {"taskrun": {"value": "outer"}}],
        "taskrun": {"value": "own"},
    }
    assert renderer.render("{{ currentEachOutput(outputs.t).value }}", context) == "deep"
    no_parents = {"outputs": context["outputs"], "taskrun": {"value": "flat"}, "parents": []}
    assert renderer.render("{{ currentEachOutput(outputs.t).value }}", no_parents) == "f"
    wrong = {**context, "parents": [{"taskrun": {"value": "zzz"}}]}
    with pytest.raises(
        ExpressionError, match="No execution outputs for the current task runs path"
    ):
        renderer.render("{{ currentEachOutput(outputs.t) }}", wrong)
    with pytest.raises(ExpressionError, match="with type map"):
        renderer.render("{{ currentEachOutput('x') }}", context)


def test_render_function_is_recursive_by_default() -> None:
    context = {
        "vars": {"a": "{{ vars.b }}", "b": "{{ vars.c }}", "c": "end"},
        "inputs": {"tpl": "{{ 1 + 1 }}"},
    }
    assert renderer.render("{{ render(vars.a) }}", context) == "end"
    assert renderer.render("{{ render(vars.a, recursive=false) }}", context) == "{{ vars.c }}"
    assert renderer.render("{{ renderOnce(vars.a) }}", context) == "{{ vars.c }}"
    assert renderer.render_typed("{{ render(inputs.tpl) }}", context) == 2
    assert renderer.render("{{ render('plain') }}", context) == "plain"
    assert renderer.render("{{ render(null) is null }}", context) == "true"


def test_render_function_sees_set_variables_and_stops_on_self_reference() -> None:
    assert renderer.render("{% set who = 'Ada' %}{{ render('Hi {{ who }}') }}", {}) == "Hi Ada"
    loop = {"vars": {"x": "{{ render(vars.x) }}"}}
    with pytest.raises(ExpressionError, match=r"Too many nested renders|recursion"):
        renderer.render("{{ render(vars.x) }}", loop)


def test_json_output_matches_json_parsers() -> None:
    value = {"s": "é\u2028\x01", "n": [1, 2.5, -0.0, 1e21], "b": False, "z": None}
    text = renderer.render("{{ v | json }}", {"v": value})
    assert json.loads(text) == value
    assert "é" in text  # Jackson does not escape non-ASCII
