"""Property-based tests of the renderer."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kestrad.expr import Renderer, is_template
from kestrad.expr.output import to_json

renderer = Renderer()

plain_text = st.text().filter(lambda s: not is_template(s))


@given(plain_text)
def test_plain_strings_round_trip_unchanged(text: str) -> None:
    assert renderer.render(text, {}) == text
    assert renderer.render_typed(text, {}) == text
    assert renderer.render_value({"k": [text]}, {}) == {"k": [text]}


@given(plain_text, plain_text, st.text())
def test_text_around_tags_is_kept(before: str, after: str, value: str) -> None:
    # a `{` right before `{{` would open the tag earlier, in Pebble as in Jinja
    assume(not before.endswith("{"))
    assert renderer.render(before + "{{ v }}" + after, {"v": value}) == before + value + after


@given(st.text().filter(lambda s: "\\" not in s))
def test_string_literals_round_trip(text: str) -> None:
    literal = "'" + text.replace("'", "\\'") + "'"
    assert renderer.render("{{ " + literal + " }}", {}) == text
    assert renderer.render_typed("{{ " + literal + " }}", {}) == text


@settings(max_examples=50)
@given(st.integers(-1000, 1000), st.integers(0, 2000))
def test_range_length_is_inclusive(start: int, size: int) -> None:
    end = start + size
    values = renderer.render_typed("{{ range(a, b) }}", {"a": start, "b": end})
    assert len(values) == end - start + 1
    assert values[0] == start and values[-1] == end
    assert renderer.render_typed("{{ a..b }}", {"a": start, "b": end}) == values


@given(st.integers(-(10**12), 10**12), st.integers(-(10**6), 10**6).filter(bool))
def test_integer_division_is_java(a: int, b: int) -> None:
    quotient = renderer.render_typed("{{ a / b }}", {"a": a, "b": b})
    remainder = renderer.render_typed("{{ a % b }}", {"a": a, "b": b})
    assert quotient * b + remainder == a
    assert abs(remainder) < abs(b)
    assert remainder == 0 or (remainder > 0) == (a > 0)  # the sign follows the dividend


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_json_output_parses_back(value: Any) -> None:
    assert json.loads(to_json(value)) == value
    rendered = renderer.render("{{ v | json }}", {"v": value})
    assert json.loads(rendered) == value
    assert renderer.render_typed("{{ json(s) }}", {"s": rendered}) == value


@given(st.text(), st.text())
def test_concat_and_coalesce(a: str, b: str) -> None:
    assert renderer.render("{{ a ~ b }}", {"a": a, "b": b}) == a + b
    assert renderer.render_typed("{{ a ?? b }}", {"a": a, "b": b}) == a
    assert renderer.render_typed("{{ missing ?? b }}", {"b": b}) == b
    assert renderer.render_typed("{{ n ?? b }}", {"n": None, "b": b}) == b
