"""Load-time checks of property values: typed literals and expression syntax.

A task property typed as a duration, an integer, a boolean, a list or a map (the
`Annotated` markers of `tasks/props.py`) may be written as a literal or as an expression.
Literals are checked here, when the flow loads, so a wrong value is reported at its
file:line:col and a bad revision never replaces a running one; expressions are checked
for syntax here and for their rendered kind when the task runs.
"""

from __future__ import annotations

import functools
import types
import typing
from typing import Any

import msgspec

from kestrad.expr.engine import Renderer, is_template
from kestrad.flows.problems import PathKey
from kestrad.flows.report import Report
from kestrad.model.task_tree import child_attrs, encode_names
from kestrad.tasks.props import Kind, Prop, literal_problem

# Properties Kestra never renders: no syntax check on them.
_NOT_RENDERED = frozenset({"id", "type", "description"})
# Duration properties of nested blocks (Structs whose fields are typed `str`):
# `retry` on any task, WaitFor's `checkFrequency`.
_NESTED_DURATIONS = {
    "retry": ("maxDuration", "interval", "maxInterval", "minInterval"),
    "checkFrequency": ("interval", "maxDuration"),
}


@functools.cache
def typed_fields(cls: type) -> dict[str, Kind]:
    """YAML property name → Kind of every marked field of a task class."""
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except (NameError, TypeError):
        return {}
    out: dict[str, Kind] = {}
    for field in msgspec.structs.fields(cls):
        kind = _marker(hints.get(field.name))
        if kind is not None:
            out[field.encode_name] = kind
    return out


def _marker(hint: Any) -> Kind | None:
    if hint is None:
        return None
    for extra in getattr(hint, "__metadata__", ()):
        if isinstance(extra, Prop):
            return extra.kind
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        for arg in typing.get_args(hint):
            kind = _marker(arg)
            if kind is not None:
                return kind
    return None


def check_literals(report: Report, cls: type, data: dict[str, Any], path: PathKey) -> set[str]:
    """Report every literal of a typed property that cannot be of its kind; returns the
    property names reported (the caller leaves them out of the conversion)."""
    bad: set[str] = set()
    for key, kind in typed_fields(cls).items():
        value = data.get(key)
        if value is None:
            continue
        problem = literal_problem(kind, value)
        if problem is not None:
            report.add((*path, key), f"`{key}` {problem}")
            bad.add(key)
    for block, keys in _NESTED_DURATIONS.items():
        nested = data.get(block)
        if isinstance(nested, dict):
            check_durations(report, nested, keys, (*path, block))
    timeout = data.get("timeout")
    if timeout is not None and "timeout" not in typed_fields(cls):
        problem = literal_problem(Kind.DURATION, timeout)
        if problem is not None:
            report.add((*path, "timeout"), f"`timeout` {problem}")
    return bad


def check_durations(
    report: Report, data: dict[str, Any], keys: tuple[str, ...], path: PathKey
) -> None:
    """Report each of `keys` in `data` whose literal is not an ISO-8601 duration."""
    for key in keys:
        value = data.get(key)
        if value is None:
            continue
        problem = literal_problem(Kind.DURATION, value)
        if problem is not None:
            report.add((*path, key), f"`{key}` {problem}")


@functools.cache
def _renderer() -> Renderer:
    """Only compiles (never renders): one shared instance keeps the compile cache."""
    return Renderer()


def check_expressions(report: Report, cls: type, data: dict[str, Any], path: PathKey) -> None:
    """Report every `{{ … }}` / `{% … %}` of a task's own properties that does not parse
    (its children are checked when they are built)."""
    lists, maps, dags = child_attrs(cls)
    names = encode_names(cls)
    children = {names.get(attr, attr) for attr in (*lists, *maps, *dags)}
    for key, value in data.items():
        if key in _NOT_RENDERED or key in children:
            continue
        _check_value(report, value, (*path, key))


def check_value_expressions(report: Report, value: Any, path: PathKey) -> None:
    """`check_expressions` for one free value (trigger inputs, flow outputs, …)."""
    _check_value(report, value, path)


def _check_value(report: Report, value: Any, path: PathKey) -> None:
    if isinstance(value, str):
        if is_template(value):
            error = _renderer().syntax_error(value)
            if error is not None:
                # A warning, not a refusal: Kestra loads such a flow and fails the task
                # when it renders (its own test flows rely on that).
                report.warn(path, f"this expression will not render: {error}")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_value(report, item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_value(report, item, (*path, index))
