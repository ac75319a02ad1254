"""Resolving execution inputs: every type's parsing, checks and error message."""

from __future__ import annotations

import base64
import json
import textwrap
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kestrad.flows.loader import load_flow
from kestrad.model.encryption import decrypt
from kestrad.model.flow import Flow
from kestrad.model.inputs import InputError, InputsInvalid, input_defaults, nest, resolve_inputs

KEY = base64.b64encode(b"k" * 32).decode()


def flow_with(inputs: str) -> Flow:
    return load_flow(
        "id: demo\nnamespace: company.team\n"
        "tasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
        "inputs:\n" + textwrap.indent(textwrap.dedent(inputs), "  ")
    )


def resolve(inputs: str, provided: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return resolve_inputs(
        flow_with(inputs), provided, renderer=kwargs.pop("renderer", None), **kwargs
    )


def errors(inputs: str, provided: dict[str, Any], **kwargs: Any) -> list[str]:
    with pytest.raises(InputsInvalid) as info:
        resolve(inputs, provided, **kwargs)
    return [e.message for e in info.value.errors]


def one(kind: str, value: Any, extra: str = "", **kwargs: Any) -> Any:
    return resolve(f"- id: x\n  type: {kind}\n{extra}", {"x": value}, **kwargs)["x"]


def one_error(kind: str, value: Any, extra: str = "", **kwargs: Any) -> str:
    [message] = errors(f"- id: x\n  type: {kind}\n{extra}", {"x": value}, **kwargs)
    return message


# -- happy paths, from text and from native values ------------------------------------------


@pytest.mark.parametrize(
    ("kind", "given_value", "expected"),
    [
        ("STRING", "Ada", "Ada"),
        ("STRING", 42, "42"),
        ("INT", "42", 42),
        ("INT", -7, -7),
        ("INT", 3.0, 3),
        ("FLOAT", "1.5", 1.5),
        ("FLOAT", 2, 2.0),
        ("BOOLEAN", "TRUE", True),
        ("BOOLEAN", "no", False),
        ("BOOL", False, False),
        ("DATETIME", "2024-01-01T10:00:00Z", "2024-01-01T10:00:00Z"),
        ("DATETIME", "2024-01-01T12:00:00+02:00", "2024-01-01T10:00:00Z"),
        ("DATETIME", "2024-01-01T10:00:00.120Z", "2024-01-01T10:00:00.120Z"),
        ("DATETIME", "2024-01-01T10:00:00.123456789Z", "2024-01-01T10:00:00.123456Z"),
        ("DATE", "2024-02-29", "2024-02-29"),
        ("TIME", "10:15", "10:15:00"),
        ("TIME", "10:15:30.5", "10:15:30.500000"),
        ("DURATION", "PT90M", "PT1H30M"),
        ("DURATION", "P1DT1S", "PT24H1S"),
        ("JSON", '{"a": [1, 2]}', {"a": [1, 2]}),
        ("JSON", {"a": 1}, {"a": 1}),
        ("JSON", "3", 3),
        ("YAML", "a: 1\nb: [x, 2024-01-01]\n", {"a": 1, "b": ["x", "2024-01-01"]}),
        ("URI", "https://kestra.io/docs?x=1", "https://kestra.io/docs?x=1"),
        ("EMAIL", "ada@example.com", "ada@example.com"),
        ("FILE", "kestra:///company/team/demo/file.txt", "kestra:///company/team/demo/file.txt"),
    ],
)
def test_type_parsing(kind: str, given_value: Any, expected: Any) -> None:
    assert one(kind, given_value) == expected


def test_array_items_are_parsed_by_item_type() -> None:
    assert one("ARRAY", "[1, 2, 3]", "  itemType: INT\n") == [1, 2, 3]
    assert one("ARRAY", ["2024-01-01T00:00:00+01:00"], "  itemType: DATETIME\n") == [
        "2023-12-31T23:00:00Z"
    ]
    assert one_error("ARRAY", '["1", "x"]', "  itemType: INT\n") == (
        "Invalid input for `x`, unable to parse array element as `INT` on `x`: "
        'it must be a valid `INT`, but received `["1", "x"]`'
    )
    assert one_error("ARRAY", "not json", "  itemType: STRING\n") == (
        "Invalid input for `x`, it must be a JSON array for `ARRAY`, but received `not json`"
    )


def test_select_enum_and_multiselect() -> None:
    values = "  values: [A, B, 3]\n"
    assert one("SELECT", "B", values) == "B"
    assert one("SELECT", 3, values) == "3"
    assert one("ENUM", "A", values) == "A"
    assert one("SELECT", "other", values + "  allowCustomValue: true\n") == "other"
    assert one_error("SELECT", "C", values) == (
        "Invalid input for `x`, it must match the values `[A, B, 3]`, but received `C`"
    )
    assert one("MULTISELECT", '["A", "B"]', values) == ["A", "B"]
    assert one("MULTISELECT", ["3"], "  options: [3]\n") == ["3"]
    assert one_error("MULTISELECT", ["A", "Z"], values) == (
        'Invalid input for `x`, value `Z` is not one of the values `[A, B, 3]`, but received `["A","Z"]`'
    )


def test_secret_is_encrypted_with_the_key() -> None:
    token = one("SECRET", "s3cr3t", secret_key=KEY)
    assert token != "s3cr3t"
    assert decrypt(KEY, token) == "s3cr3t"
    assert one_error("SECRET", "s3cr3t") == (
        "Invalid input for `x`, SECRET inputs need an encryption key, and none is configured, "
        "but received `******`"
    )


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "bad", "reason"),
    [
        ("INT", "4.5", "it must be a valid `INT`"),
        ("INT", "2147483648", "it must be a valid `INT`"),
        ("INT", True, "it must be a valid `INT`"),
        ("FLOAT", "abc", "it must be a valid `FLOAT`"),
        ("FLOAT", "NaN", "it must be a valid `FLOAT`"),
        ("BOOLEAN", 1, "it must be a valid `BOOLEAN`"),
        (
            "DATETIME",
            "2024-01-01T10:00:00",
            "it must be a valid `DATETIME` (ISO-8601 with `Z` or an offset)",
        ),
        (
            "DATETIME",
            "2024-13-01T10:00:00Z",
            "it must be a valid `DATETIME`: month must be in 1..12",
        ),
        ("DATE", "20240101", "it must be a valid `DATE` (YYYY-MM-DD)"),
        ("TIME", "25:00", "it must be a valid `TIME`: hour must be in 0..23"),
        ("DURATION", "5 minutes", "it must be a valid `DURATION` (ISO-8601, e.g. PT5M)"),
        ("URI", "http://localhost", "it must be a valid `URI`"),
        ("EMAIL", "ada@", "it must be a valid email address"),
        (
            "FILE",
            "/etc/passwd",
            "it must be a file (a multipart file part) or a `kestra:///` URI",
        ),
        ("STRING", {"a": 1}, "it must be a `STRING`"),
    ],
)
def test_type_errors(kind: str, bad: Any, reason: str) -> None:
    shown = bad if isinstance(bad, str) else json.dumps(bad, separators=(",", ":"))
    assert one_error(kind, bad) == f"Invalid input for `x`, {reason}, but received `{shown}`"


def test_json_error_names_the_parser_problem() -> None:
    assert one_error("JSON", "{oops").startswith("Invalid input for `x`, it must be valid `JSON`: ")


def test_bounds() -> None:
    assert one("INT", "18", "  min: 18\n  max: 20\n") == 18
    assert one_error("INT", "3", "  min: 18\n") == (
        "Invalid input for `x`, it must be more than `18`, but received `3`"
    )
    assert one_error("FLOAT", 9.5, "  max: 9.25\n") == (
        "Invalid input for `x`, it must be less than `9.25`, but received `9.5`"
    )
    assert one_error("DURATION", "PT30S", "  min: PT1M\n") == (
        "Invalid input for `x`, it must be more than `PT1M`, but received `PT30S`"
    )
    assert one_error("DATETIME", "2023-12-31T23:59:59Z", "  after: 2024-01-01T00:00:00Z\n") == (
        "Invalid input for `x`, it must be after `2024-01-01T00:00:00Z`, but received `2023-12-31T23:59:59Z`"
    )
    assert one_error("DATE", "2024-06-01", "  before: 2024-05-31\n") == (
        "Invalid input for `x`, it must be before `2024-05-31`, but received `2024-06-01`"
    )
    assert one("TIME", "09:00", "  after: '08:00'\n  before: '18:00'\n") == "09:00:00"


def test_validator_must_match_the_whole_value() -> None:
    extra = "  validator: '[a-z]+'\n"
    assert one("STRING", "abc", extra) == "abc"
    assert one_error("STRING", "abc1", extra) == (
        "Invalid input for `x`, it must match the pattern `[a-z]+`, but received `abc1`"
    )


def test_required_defaults_and_optional_inputs() -> None:
    inputs = """
    - id: name
      type: STRING
    - id: age
      type: INT
      defaults: 30
    - id: nickname
      type: STRING
      required: false
    - id: when
      type: DATETIME
      defaults: "2024-01-01T01:00:00+01:00"
    """
    assert resolve(inputs, {"name": "Ada"}) == {
        "name": "Ada",
        "age": 30,
        "nickname": None,
        "when": "2024-01-01T00:00:00Z",
    }
    assert errors(inputs, {}) == [
        "Invalid input for `name`, missing required input, but received `null`"
    ]


def test_defaults_pass_through_the_type_parser() -> None:
    assert errors("- id: n\n  type: INT\n  defaults: many\n", {}) == [
        "Invalid input for `n`, it must be a valid `INT`, but received `many`"
    ]


def test_every_bad_input_is_reported_once() -> None:
    inputs = """
    - id: a
      type: INT
    - id: b
      type: BOOLEAN
    - id: c
      type: DATE
    - id: d
      type: STRING
    """
    with pytest.raises(InputsInvalid) as info:
        resolve(inputs, {"a": "x", "c": "soon", "d": "ok"})
    assert info.value.errors == [
        InputError(
            input_id="a",
            message="Invalid input for `a`, it must be a valid `INT`, but received `x`",
        ),
        InputError(
            input_id="b",
            message="Invalid input for `b`, missing required input, but received `null`",
        ),
        InputError(
            input_id="c",
            message="Invalid input for `c`, it must be a valid `DATE` (YYYY-MM-DD), but received `soon`",
        ),
    ]
    assert str(info.value).count("Invalid input") == 3


def test_undeclared_inputs_are_ignored_and_dotted_ids_nest() -> None:
    inputs = """
    - id: nested.more.int
      type: INT
    - id: nested.string
      type: STRING
    - id: top
      type: STRING
    """
    provided = {"nested.more.int": "3", "nested.string": "s", "top": "t", "extra": "ignored"}
    assert resolve(inputs, provided) == {"nested": {"more": {"int": 3}, "string": "s"}, "top": "t"}
    # A JSON caller may send the nested shape directly.
    assert resolve(inputs, {"nested": {"more": {"int": 4}, "string": "s"}, "top": "t"}) == {
        "nested": {"more": {"int": 4}, "string": "s"},
        "top": "t",
    }


def test_depends_on_without_condition_follows_dependencies() -> None:
    inputs = """
    - id: region
      type: STRING
      required: false
    - id: zone
      type: STRING
      defaults: z1
      dependsOn:
        inputs: [region]
    """
    assert resolve(inputs, {"region": "eu"}) == {"region": "eu", "zone": "z1"}
    assert resolve(inputs, {"region": None}) == {"region": None, "zone": "z1"}


def test_input_defaults_are_parsed_and_nested() -> None:
    flow = flow_with(
        """
        - id: a.b
          type: INT
          defaults: "3"
        - id: d
          type: DURATION
          defaults: PT60S
        - id: raw
          type: INT
          defaults: many
        - id: none
          type: STRING
        """
    )
    assert input_defaults(flow) == {"a": {"b": 3}, "d": "PT1M", "raw": "many"}


def test_nest_skips_clashing_keys() -> None:
    assert nest({"a": 1, "a.b": 2, "c.d": 3}) == {"a": 1, "c": {"d": 3}}


# -- with the expression renderer -----------------------------------------------------------


@pytest.fixture
def renderer() -> Any:
    engine = pytest.importorskip("kestrad.expr.engine")
    if not hasattr(engine, "Renderer"):
        pytest.skip("the expression engine has no Renderer")
    return engine.Renderer()


def test_depends_on_condition_sees_resolved_inputs(renderer: Any) -> None:
    inputs = """
    - id: cloud
      type: SELECT
      values: [AWS, GCP]
    - id: region
      type: STRING
      dependsOn:
        inputs: [cloud]
        condition: "{{ inputs.cloud == 'AWS' }}"
    """
    assert resolve(inputs, {"cloud": "AWS", "region": "eu-west-1"}, renderer=renderer) == {
        "cloud": "AWS",
        "region": "eu-west-1",
    }
    # Condition false: the input is dropped, even though it is required and has no value.
    assert resolve(inputs, {"cloud": "GCP"}, renderer=renderer) == {"cloud": "GCP"}


def test_select_expression_gives_the_values(renderer: Any) -> None:
    extra = "  expression: \"{{ ['red', 'green'] }}\"\n"
    assert one("SELECT", "red", extra, renderer=renderer) == "red"
    assert one_error("SELECT", "blue", extra, renderer=renderer) == (
        "Invalid input for `x`, it must match the values `[red, green]`, but received `blue`"
    )


# -- properties -----------------------------------------------------------------------------


@given(st.integers(-(2**31), 2**31 - 1))
def test_any_32_bit_int_round_trips_from_text(value: int) -> None:
    assert one("INT", str(value)) == value


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.sampled_from([UTC]),
    )
)
def test_datetimes_normalize_to_utc_z(moment: datetime) -> None:
    text = one("DATETIME", moment.isoformat())
    assert text.endswith("Z")
    assert datetime.fromisoformat(text.replace("Z", "+00:00")) == moment


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=1000)))
def test_durations_round_trip(delta: timedelta) -> None:
    from kestrad.model.durations import format_duration, parse_duration

    text = one("DURATION", format_duration(delta))
    assert abs(parse_duration(text) - delta) < timedelta(microseconds=1)
