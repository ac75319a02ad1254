"""Typed task properties, as Kestra's `Property<T>`: a literal of the type, or an expression.

A Kestra property is either written as a value of its type (`duration: PT5M`,
`concurrent: 4`, `failFast: false`, `commands: [..]`) or as a string holding an
expression that renders to one (`duration: "{{ inputs.wait }}"`). The aliases here say
which, for msgspec (the shape: `int | str`) and for the loader (the marker): a literal is
checked when the flow loads, with its file:line:col, so `Sleep.duration: [1, 2]` or
`duration: PT5X` never reaches a worker; an expression is checked once rendered, by the
converters below, which fail the task run with the property's name.

`Data` is the one free-form kind: values Kestra types as `Object` (a KV value, an HTTP
body, a ForEach value list), where any JSON value is legitimate.
"""

from __future__ import annotations

import enum
import json
from datetime import timedelta
from typing import Annotated, Any

from kestrad.expr.engine import ExpressionError, is_template
from kestrad.model.durations import DurationError, parse_duration


class Kind(enum.Enum):
    """What a property's value must be once rendered."""

    DURATION = "an ISO-8601 duration (e.g. PT5M, PT0.5S, P1D)"
    INT = "an integer"
    BOOL = "true or false"
    LIST = "a list"
    MAP = "a map"
    LABELS = "a map or a list of `{key, value}`"
    DATA = "a value"


class Prop:
    """The marker the loader reads from a field's `Annotated` type."""

    __slots__ = ("kind",)

    def __init__(self, kind: Kind) -> None:
        self.kind = kind

    def __repr__(self) -> str:
        return f"Prop({self.kind.name})"


Duration = Annotated[str, Prop(Kind.DURATION)]
Int = Annotated[int | str, Prop(Kind.INT)]
Bool = Annotated[bool | str, Prop(Kind.BOOL)]
# A list of strings; one string is a one-item list (`commands: echo hi`) or an expression.
TextList = Annotated[list[str] | str, Prop(Kind.LIST)]
# A list of anything (ForEach values), or an expression / JSON text rendering to one.
ValueList = Annotated[list[Any] | str, Prop(Kind.LIST)]
Map = Annotated[dict[str, Any] | str, Prop(Kind.MAP)]
# Labels: a map, a list of `{key, value}`, or an expression rendering to either.
LabelSet = Annotated[dict[str, Any] | list[dict[str, Any]] | str, Prop(Kind.LABELS)]
Data = Annotated[str | int | float | bool | list[Any] | dict[str, Any], Prop(Kind.DATA)]


class PropertyError(ExpressionError):
    """A property rendered to a value of the wrong kind; fails the task run."""

    def __init__(self, name: str, kind: Kind, value: Any) -> None:
        super().__init__(_show(value), f"`{name}` must be {kind.value}")
        self.name = name

    def __str__(self) -> str:
        return f"{self.reason}, got `{self.expression}`"


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 200 else text[:200] + "…"


# -- literals (load time) ----------------------------------------------------------------


def literal_problem(kind: Kind, value: Any) -> str | None:
    """Why a literal (unrendered) value cannot be of `kind`, or None when it can.

    Strings holding an expression are judged once rendered, not here.
    """
    if isinstance(value, str) and is_template(value):
        return None
    try:
        convert(kind, value, "")
    except PropertyError as exc:
        return f"must be {kind.value}, got `{exc.expression}`"
    return None


# -- rendered values (run time) ----------------------------------------------------------


def convert(kind: Kind, value: Any, name: str) -> Any:
    """A rendered value as `kind`, or PropertyError naming the property."""
    if kind is Kind.DURATION:
        return duration(value, name)
    if kind is Kind.INT:
        return integer(value, name)
    if kind is Kind.BOOL:
        return boolean(value, name)
    if kind is Kind.LIST:
        return value_list(value, name)
    if kind is Kind.MAP:
        return mapping(value, name)
    if kind is Kind.LABELS:
        return labels(value, name)
    return value


def duration(value: Any, name: str) -> timedelta:
    """`PT5M` → timedelta."""
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except DurationError:
            pass
    raise PropertyError(name, Kind.DURATION, value)


def integer(value: Any, name: str) -> int:
    """`4` or `"4"` → 4 (booleans and fractions refused)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise PropertyError(name, Kind.INT, value)


def boolean(value: Any, name: str) -> bool:
    """`true`, `"false"` (any case, trimmed) → bool."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise PropertyError(name, Kind.BOOL, value)


def value_list(value: Any, name: str) -> list[Any]:
    """A list, a JSON array text, or one string or scalar (a one-item list)."""
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if isinstance(parsed, list):
                return parsed
        return [value]
    if isinstance(value, int | float):  # booleans included: a scalar is a one-item list
        return [value]
    raise PropertyError(name, Kind.LIST, value)


def text_list(value: Any, name: str) -> list[str]:
    """`value_list` with every item as text (null items as empty strings)."""
    out: list[str] = []
    for item in value_list(value, name):
        if item is None:
            out.append("")
        elif isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, dict | list):
            out.append(json.dumps(item))
        else:
            out.append(str(item))
    return out


def mapping(value: Any, name: str) -> dict[str, Any]:
    """A map, or a JSON object text."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    raise PropertyError(name, Kind.MAP, value)


def labels(value: Any, name: str) -> dict[str, Any] | list[Any]:
    """A map or a list of `{key, value}`, or a JSON text of either."""
    if isinstance(value, dict | list):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict | list):
            return parsed
    raise PropertyError(name, Kind.LABELS, value)
