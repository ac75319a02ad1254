"""Pebble syntax (Kestra flavour) on top of Jinja: operators, precedence, tags, literals."""

from __future__ import annotations

from typing import Any

import pytest

from kestrad.expr import ExpressionError, Renderer
from kestrad.expr.pebble import PebbleSyntaxError, translate

renderer = Renderer()

CONTEXT: dict[str, Any] = {
    "inputs": {"name": "Ada", "n": 3, "list": [1, 2, 3], "empty": "", "nothing": None},
    "labels": {"team": "data"},
    "m": {"a": 1, "b": 2},
}


def render(template: str, **extra: Any) -> str:
    return renderer.render(template, {**CONTEXT, **extra})


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # ternary, lazily evaluated (the other branch may be undefined)
        ("{{ inputs.n > 2 ? 'big' : 'small' }}", "big"),
        ("{{ inputs.n > 5 ? 'big' : 'small' }}", "small"),
        ("{{ inputs.n == 3 ? 'ok' : ko }}", "ok"),
        ("{{ inputs.n != 3 ? ko: inputs.name }}", "Ada"),
        ("{{ true ? false ? 1 : 2 : 3 }}", "2"),
        # null-coalescing
        ("{{ missing ?? 'fallback' }}", "fallback"),
        ("{{ missing.deep.path ?? 'fallback' }}", "fallback"),
        ("{{ inputs.nothing ?? 'fallback' }}", "fallback"),
        ("{{ inputs.name ?? 'fallback' }}", "Ada"),
        ("{{ missing ?? also_missing ?? 'third' }}", "third"),
        ("{{ (missing | upper) ?? 'caught' }}", "caught"),
        # undefined-coalescing: null stays null
        ("{{ missing ??? 'fallback' }}", "fallback"),
        ("{{ inputs.nothing ??? 'fallback' }}", ""),
        ("{{ inputs.name ??? 'fallback' }}", "Ada"),
        # ranges are inclusive
        ("{{ 1..5 }}", "[1,2,3,4,5]"),
        ("{{ 3..1 }}", "[]"),  # as Pebble: the step is +1
        ("{{ range(3, 1, -1) }}", "[3,2,1]"),
        ("{% for i in 0..2 %}{{ i }}{% endfor %}", "012"),
        # concatenation with Java toString (null is nothing)
        ("{{ 'a' ~ 1 ~ true ~ null ~ 1.5 }}", "a1true1.5"),
        ("{{ inputs.name ~ '-' ~ labels.team }}", "Ada-data"),
        # equals / contains
        ("{{ inputs.name equals 'Ada' }}", "true"),
        ("{{ inputs.list contains 2 }}", "true"),
        ("{{ inputs.list contains [1, 3] }}", "true"),
        ("{{ inputs.list contains 9 }}", "false"),
        ("{{ 'kestra' contains 'str' }}", "true"),
        ("{{ m contains 'a' }}", "true"),
        ("{{ m contains 'z' }}", "false"),
        ("{{ 2 in inputs.list }} {{ 9 not in inputs.list }}", "true true"),
        # literals
        ("{{ [1, 'a', null] }}", '[1,"a",null]'),
        ("{{ {'k': inputs.name, 'n': [true, false]} }}", '{"k":"Ada","n":[true,false]}'),
        ("{{ TRUE }} {{ FALSE }} {{ none }} {{ NULL }}", "true false  "),
        ("{{ 5L + 1 }}", "6"),
        # strings: only the quote is unescaped, backslashes stay (Pebble)
        ("{{ 'it\\'s' }}", "it's"),
        ('{{ "say \\"hi\\"" }}', 'say "hi"'),
        ("{{ 'a\\nb' }}", "a\\nb"),
        ("{{ '}}' }}", "}}"),
        ('{{ "Hello #{inputs.name}!" }}', "Hello Ada!"),
        ('{{ "#{1 + 1} items, # not interpolated" }}', "2 items, # not interpolated"),
        # attribute and subscript access
        ("{{ inputs['name'] }}", "Ada"),
        ("{{ inputs.list[0] }} {{ inputs.list.1 }}", "1 2"),
        ("{{ m['a'] + m.b }}", "3"),
        # arithmetic is Java's
        ("{{ 7 / 2 }} {{ -7 / 2 }} {{ 7.0 / 2 }}", "3 -3 3.5"),
        ("{{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }}", "1 -1 1"),
        ("{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }}", "7 9"),
        ("{{ 'n=' + 1 }} {{ 1 + 'x' }} {{ [1] + [2] }} {{ [1, 2, 3] - 2 }}", "n=1 1x [1,2] [1,3]"),
        ("{{ 1.0 / 0 }}", "Infinity"),
        ("{{ -inputs.n }} {{ +inputs.n }}", "-3 3"),
        # and / or / not yield booleans
        ("{{ inputs.n > 1 and inputs.n < 5 }}", "true"),
        ("{{ false or inputs.name }}", "true"),
        ("{{ not false }}", "true"),
        ("{{ not (1 == 2) }}", "true"),
        # tests
        (
            "{{ inputs.name is defined }} {{ missing is defined }} {{ missing is not defined }}",
            "true false true",
        ),
        ("{{ missing.a.b is defined }} {{ inputs.nothing is defined }}", "false false"),
        (
            "{{ inputs.nothing is null }} {{ missing is null }} {{ inputs.name is null }}",
            "true true false",
        ),
        (
            "{{ inputs.empty is empty }} {{ missing.x is empty }} {{ inputs.list is empty }}",
            "true true false",
        ),
        (
            "{{ 2 is even }} {{ 2 is odd }} {{ m is map }} {{ inputs.list is iterable }}",
            "true false true true",
        ),
        # filters chain left to right
        ("{{ inputs.name | upper | lower }}", "ada"),
        (
            "{{ missing | default('d') }} {{ inputs.empty | default('e') }} {{ ' ' | default('s') }}",
            "d e s",
        ),
        ("{{ missing.a.b | default('deep') }}", "deep"),
        ("{{ inputs.name | default('unused') }}", "Ada"),
    ],
)
def test_expressions(template: str, expected: str) -> None:
    assert render(template) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # `~` (110) binds tighter than `|` (100): the filter applies to the whole concatenation
        ("{{ 'a' ~ 'b' | upper }}", "AB"),
        # `+` (40) binds looser than `|`: the filter applies to the right operand only
        ("{{ 1 + -2 | abs }}", "3"),
        # unary minus binds tighter than a filter
        ("{{ -2 | abs }}", "2"),
        # `??` (120) binds tighter than `~` and `|`
        ("{{ 'a' ~ missing ?? 'b' }}", "ab"),
        ("{{ missing ?? 'x' | upper }}", "X"),
        # ranges bind tighter than filters
        ("{{ 1..3 | length }}", "3"),
        # comparison binds tighter than `and`, `is` looser than `==`
        ("{{ 1 == 1 and 2 == 2 }}", "true"),
        # ternary is the loosest
        ("{{ 1 + 1 == 2 ? 'two' : 'other' }}", "two"),
    ],
)
def test_precedence_follows_pebble(template: str, expected: str) -> None:
    assert render(template) == expected


def test_if_elseif_else() -> None:
    template = "{% if inputs.n == 1 %}one{% elseif inputs.n == 3 %}three{% else %}other{% endif %}"
    assert render(template) == "three"
    assert render(template, inputs={"n": 1}) == "one"
    assert render(template, inputs={"n": 7}) == "other"


def test_for_loop_index_is_zero_based() -> None:
    template = (
        "{% for x in inputs.list %}{{ loop.index }}/{{ loop.revindex }}/{{ loop.length }}"
        "{{ loop.first ? 'F' : '' }}{{ loop.last ? 'L' : '' }} {% endfor %}"
    )
    assert render(template) == "0/2/3F 1/1/3 2/0/3L "


def test_for_over_a_map_iterates_entries() -> None:
    assert render("{% for e in m %}{{ e.key }}={{ e.value }};{% endfor %}") == "a=1;b=2;"
    assert render("{% for k, v in m %}{{ k }}:{{ v }},{% endfor %}") == "a:1,b:2,"
    assert render("{% for e in m %}{{ e }} {% endfor %}") == "a=1 b=2 "


def test_for_else_and_null() -> None:
    assert render("{% for x in [] %}{{ x }}{% else %}empty{% endfor %}") == "empty"
    assert render("{% for x in inputs.nothing %}{{ x }}{% else %}none{% endfor %}") == "none"
    with pytest.raises(ExpressionError, match="Not an iterable object"):
        render("{% for c in 'abc' %}{{ c }}{% endfor %}")
    with pytest.raises(ExpressionError, match="Unable to find `missing`"):
        render("{% for x in missing %}{{ x }}{% endfor %}")


def test_nested_loops() -> None:
    template = "{% for a in [1, 2] %}{% for b in ['x', 'y'] %}{{ a }}{{ b }}{{ loop.index }} {% endfor %}{% endfor %}"
    assert render(template) == "1x0 1y1 2x0 2y1 "


def test_set_and_macro_and_filter_tags() -> None:
    assert render("{% set greeting = 'Hi ' ~ inputs.name %}{{ greeting }}!") == "Hi Ada!"
    macro = "{% macro shout(text, times=2) %}{{ text | upper }}{{ times }}{% endmacro %}{{ shout('hey') }}|{{ shout('yo', 3) }}"
    assert render(macro) == "HEY2|YO3"
    assert render("{% filter upper %}abc {{ inputs.name }}{% endfilter %}") == "ABC ADA"


def test_raw_verbatim_and_comments() -> None:
    assert render("{% raw %}{{ not rendered }}{% endraw %}") == "{{ not rendered }}"
    assert render("{% verbatim %}{% if %}{{ x }}{% endverbatim %}") == "{% if %}{{ x }}"
    assert render("a{# a comment with {{ x }} #}b") == "ab"


def test_whitespace_control() -> None:
    assert render("a  {{- 'b' -}}  c") == "abc"
    assert render("x {%- if true -%} y {%- endif -%} z") == "xyz"
    assert render("line\n") == "line\n"
    assert render("{{ 'x' }}\n") == "x\n"


def test_text_outside_tags_is_untouched() -> None:
    text = "echo '?? ~ .. contains' && x=$((1 ? 2 : 3)) loop.index\n"
    assert render(text + "{{ inputs.name }}") == text + "Ada"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ }}", "Empty expression"),
        ("{{ inputs.name", "missing '}}'"),
        ("{{ (1 + 2 }}", 'Unclosed ")"'),
        ("{{ 1 + }}", "Unexpected end of expression"),
        ("{{ 1e10 }}", "Unexpected token"),
        ("{% include 'other' %}", 'Unexpected tag name "include"'),
        ("{% import 'x' as y %}", 'Unexpected tag name "import"'),
        ("{% extends 'base' %}", 'Unexpected tag name "extends"'),
        ("{% do 1 %}", 'Unexpected tag name "do"'),
        ("{% if true %}x", "Unexpected end of template"),
        ("{{ 'a'.upper() }}", "Method calls are not supported"),
        ("{{ x if y else z }}", "Unexpected token"),
        ("{{ 'a' | nosuchfilter }}", "No filter named 'nosuchfilter'"),
        ("{{ 1 is nosuchtest }}", "No test named 'nosuchtest'"),
        ("{# unclosed", "Unclosed comment"),
        ("{% raw %}never closed", "Unclosed raw tag"),
        ("{{ 'unclosed }}", "Unclosed"),
        ("{{ a $ b }}", "Unexpected character [$]"),
        ("{{ f(a=1, 2) }}", "Positional arguments must come before named arguments"),
    ],
)
def test_syntax_errors(template: str, message: str) -> None:
    with pytest.raises(ExpressionError) as info:
        render(template)
    assert message in str(info.value)
    assert template in str(info.value)


def test_syntax_error_reports_line() -> None:
    with pytest.raises(PebbleSyntaxError) as info:
        translate("line one\nline two {{ 1 + }}")
    assert info.value.line == 2


def test_conformance_flow_with_tag_inside_expression_fails() -> None:
    # flowable-with-parent-fail.yaml: Kestra fails this If condition
    condition = (
        "{{parents[0].taskrun.value == 'CUMULATIVE' and {% for entry in json(taskrun.value) %}"
        "{{ entry.key }}{% endfor %}== 'NEW_MONTH'}}"
    )
    with pytest.raises(ExpressionError):
        renderer.render(
            condition, {"parents": [{"taskrun": {"value": "MONTHLY"}}], "taskrun": {"value": "{}"}}
        )


def test_translation_marks_single_expressions() -> None:
    assert translate("{{ a }}").expression == "a"
    assert translate("  {{ a.b }}\n").expression == "a.b"
    assert translate("x{{ a }}").expression is None
    assert translate("{{ a }}{{ b }}").expression is None
    assert translate("{% if a %}{{ a }}{% endif %}").expression is None
    assert translate("{% for x in y %}{% endfor %}").loops
    assert not translate("{{ a }}").loops


def test_carriage_returns_are_kept() -> None:
    # Jinja would turn every CRLF of template text into LF; Pebble keeps them
    assert render("a\r\nb {{ inputs.name }}\r\n") == "a\r\nb Ada\r\n"
    assert render("{% raw %}x\r\ny{% endraw %}") == "x\r\ny"
    assert render("{{ 'in\r\nliteral' }}") == "in\r\nliteral"


def test_whitespace_control_uses_java_whitespace() -> None:
    assert render("a \r\n\t{{- 'b' -}} \r\n c") == "abc"
    assert render("a {#- comment -#} b") == "ab"
    assert render("{% raw -%}  x  {%- endraw %}") == "x"
    assert render("{% verbatim %} x {% endverbatim -%}   y") == " x y"
    assert render("a\u00a0{{- 'b' }}") == "a\u00a0b"  # no-break space is not Java whitespace


def test_names_jinja_reserves_are_plain_variables() -> None:
    assert render("{{ self }} {{ caller.x }}", self="me", caller={"x": 1}) == "me 1"
    assert (
        render("{% set kwargs = 2 %}{{ kwargs }}{% for varargs in [3] %}{{ varargs }}{% endfor %}")
        == "23"
    )
    with pytest.raises(ExpressionError, match="Unable to find `self` used"):
        renderer.render("{{ self }}", {})


def test_set_inside_a_loop_updates_the_outer_variable() -> None:
    # Pebble's `set` writes to the scope that already holds the variable: accumulators work
    total = "{% set total = 0 %}{% for i in inputs.list %}{% set total = total + i %}{% endfor %}{{ total }}"
    assert render(total) == "6"
    assert render("{% for x in [1, 2] %}{% set last = x %}{% endfor %}{{ last }}") == "2"
    assert render("{% if true %}{% set z = 'in' %}{% endif %}{{ z }}") == "in"
    # a set variable shadows the context's from then on, and is fresh in every render
    assert (
        render("{{ labels.team }}{% set labels = {'team': 'ops'} %}-{{ labels.team }}")
        == "data-ops"
    )
    once = "{% if flag %}{% set v = 'set' %}{% endif %}{{ v ?? 'unset' }}"
    assert render(once, flag=True) == "set"
    assert render(once, flag=False) == "unset"
    assert render("{% set n = null %}{{ n is null }}", n=1) == "true"
    # a loop variable stays the loop's
    assert render("{% for x in [1] %}{% set x = 5 %}{{ x }}{% endfor %}") == "5"
