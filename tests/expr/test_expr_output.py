"""Values print the way Kestra (Java, Jackson) prints them."""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kestrad.expr import Renderer, truthy
from kestrad.expr.output import Entry, java_double, java_duration, java_str, output_string, to_json

renderer = Renderer()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.0, "1.0"),
        (1.5, "1.5"),
        (-2.25, "-2.25"),
        (42.42, "42.42"),
        (0.001, "0.001"),
        (0.0001, "1.0E-4"),
        (1e7, "1.0E7"),
        (9999999.0, "9999999.0"),
        (1e10, "1.0E10"),
        (12345678.9, "1.23456789E7"),
        (1e16, "1.0E16"),
        (-2.5e-7, "-2.5E-7"),
        (100.0, "100.0"),
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (math.inf, "Infinity"),
        (-math.inf, "-Infinity"),
        (math.nan, "NaN"),
        (1 / 3, "0.3333333333333333"),
    ],
)
def test_java_double(value: float, expected: str) -> None:
    assert java_double(value) == expected


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_java_double_round_trips(value: float) -> None:
    text = java_double(value)
    assert float(text) == value
    assert "e" not in text  # Java writes E
    assert "." in text


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ null }}", ""),
        ("{{ true }}", "true"),
        ("{{ false }}", "false"),
        ("{{ 1 }}", "1"),
        ("{{ 1.0 }}", "1.0"),
        ("{{ 2.5 * 4 }}", "10.0"),
        ("{{ [1, 2] }}", "[1,2]"),
        ("{{ {'a': 1, 'b': [1, 2]} }}", '{"a":1,"b":[1,2]}'),
        ("{{ ['x', null, true, 1.5] }}", '["x",null,true,1.5]'),
        ("{{ {'é': 'ü\n\"'} }}", '{"é":"ü\\n\\""}'),
    ],
)
def test_output_rules(template: str, expected: str) -> None:
    assert renderer.render(template, {}) == expected


def test_container_output_is_compact_json_like_jackson() -> None:
    value = {"a": 1, "b": [1, 2.0, None, {"c": "d"}], "e": 1e10}
    rendered = renderer.render("{{ v }}", {"v": value})
    assert rendered == '{"a":1,"b":[1,2.0,null,{"c":"d"}],"e":1.0E10}'
    assert json.loads(rendered)["b"][3] == {"c": "d"}


def test_datetime_output_is_iso() -> None:
    instant = dt.datetime(2024, 1, 1, 10, 0, 0, 123456, tzinfo=dt.UTC)
    assert renderer.render("{{ d }}", {"d": instant}) == "2024-01-01T10:00:00.123456Z"
    millis = dt.datetime(2024, 1, 1, 10, 0, 0, 123000, tzinfo=dt.UTC)
    assert renderer.render("{{ d }}", {"d": millis}) == "2024-01-01T10:00:00.123Z"
    whole = dt.datetime(2024, 1, 1, 10, 0, tzinfo=dt.UTC)
    assert renderer.render("{{ d }}", {"d": whole}) == "2024-01-01T10:00:00Z"
    paris = dt.datetime(2024, 7, 1, 10, 0, tzinfo=ZoneInfo("Europe/Paris"))
    assert renderer.render("{{ d }}", {"d": paris}) == "2024-07-01T10:00:00+02:00"
    assert renderer.render("{{ d }}", {"d": dt.date(2024, 2, 3)}) == "2024-02-03"
    assert renderer.render("{{ [d] }}", {"d": whole}) == '["2024-01-01T10:00:00Z"]'


def test_java_str_is_java_to_string() -> None:
    assert java_str(None) == "null"
    assert java_str(True) == "true"
    assert java_str(1.0) == "1.0"
    assert java_str({"a": 1, "b": [1, None]}) == "{a=1, b=[1, null]}"
    assert java_str(Entry("k", 2)) == "k=2"


def test_json_of_other_values() -> None:
    assert to_json(Decimal("1.50")) == "1.50"
    assert to_json(b"ab") == '"YWI="'
    assert to_json(Entry("k", [1])) == '{"k":[1]}'
    assert to_json(dt.timedelta(hours=1, minutes=30)) == '"PT1H30M"'
    assert java_duration(dt.timedelta(seconds=0.5)) == "PT0.5S"
    assert java_duration(dt.timedelta(0)) == "PT0S"


def test_output_string_of_entry_and_tuple() -> None:
    assert output_string(Entry("a", 1)) == "a=1"
    assert output_string((1, 2)) == "[1,2]"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("false", False),
        ("0", False),
        ("-0", False),
        ("", False),
        ("  false ", False),
        (" ", False),
        ("False", True),  # case-sensitive, as Kestra
        ("true", True),
        ("no", True),
        ("1", True),
        (False, False),
        (True, True),
        (None, False),
        (0, False),
        (1, True),
        (0.0, True),  # Kestra renders 0.0 as "0.0", which is not a false value
        ([], True),
        ({}, True),
    ],
)
def test_truthy(value: object, expected: bool) -> None:
    assert truthy(value) is expected


@given(st.text())
def test_truthy_of_any_string_matches_kestra_rule(text: str) -> None:
    assert truthy(text) is (text.strip() not in {"false", "0", "-0", ""})
