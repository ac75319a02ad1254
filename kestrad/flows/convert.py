"""Raw mappings → strict msgspec Structs, reporting every bad property, not just the first.

msgspec stops at the first error of an object. Unknown and missing properties are found
here up front (all of them, each positioned on its key); type errors are then collected by
converting again without the offending property until the object converts or a required
property is at fault.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, TypeVar

import msgspec

from kestrad.flows.problems import PathKey
from kestrad.flows.report import Report

T = TypeVar("T")

_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_SEGMENT = re.compile(r"\.([^.\[]+)|\[(\d+)\]|(\[\.\.\.\])")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]*)`$")
# Type errors per object before giving up on it (a safety bound, never hit by real files).
_MAX_ROUNDS = 64


@cache
def struct_fields(cls: type) -> dict[str, msgspec.structs.FieldInfo]:
    """YAML property name → field info of a Struct class."""
    return {f.encode_name: f for f in msgspec.structs.fields(cls)}


def convert_struct(
    report: Report,
    data: dict[str, Any],
    cls: type[T],
    path: PathKey,
    what: str,
    *,
    reported: frozenset[str] | set[str] = frozenset(),
) -> T | None:
    """Build `cls` from `data`, or report why not (`what` names the object in messages).

    A null property counts as absent (Jackson's reading of `key: null` for an optional
    property). In non-strict mode unknown properties are dropped silently. Properties in
    `reported` were already found wrong by the caller: they are left out, and a required
    one among them gives no object (and no second message).
    """
    fields = struct_fields(cls)
    data = dict(data)
    for key in list(data):
        if key not in fields:
            if report.strict:
                report.add(
                    (*path, key),
                    f"unknown property `{key}` on {what}{did_you_mean(key, list(fields))}",
                    on_key=True,
                )
            del data[key]
        elif data[key] is None and not fields[key].required:
            del data[key]
    for key in reported:
        data.pop(key, None)
    if any(fields[key].required for key in reported if key in fields):
        return None
    _coerce_text(cls, data)
    missing = [name for name, f in fields.items() if f.required and data.get(name) is None]
    for name in missing:
        where = (*path, name) if name in data else path
        report.add(where, f"missing required property `{name}`")
    if missing:
        return None
    for _ in range(_MAX_ROUNDS):
        try:
            return msgspec.convert(data, cls, strict=False)
        except msgspec.ValidationError as exc:
            sub = report_validation_error(report, str(exc), path)
        if not sub or sub[0] not in data or fields[str(sub[0])].required:
            return None
        del data[sub[0]]
    return None


def did_you_mean(name: str, known: list[str]) -> str:
    """`; did you mean `x`?` for the known property closest to `name`, or ``."""
    lowered = {k.lower(): k for k in known}
    if name.lower() in lowered:
        return f"; did you mean `{lowered[name.lower()]}`?"
    import difflib  # only for a name that is not known: a refused flow

    matches = difflib.get_close_matches(name, known, n=1, cutoff=0.7)
    return f"; did you mean `{matches[0]}`?" if matches else ""


@cache
def _text_fields(cls: type) -> tuple[frozenset[str], frozenset[str]]:
    """(fields typed `str`, fields typed `list[str]`), optional or not, by YAML name."""
    info = msgspec.inspect.type_info(cls)
    scalars: set[str] = set()
    lists: set[str] = set()
    for f in info.fields:  # type: ignore[attr-defined]
        if _is_text(f.type):
            scalars.add(f.encode_name)
        else:
            for option in _options(f.type):
                if isinstance(option, msgspec.inspect.ListType) and _is_text(option.item_type):
                    lists.add(f.encode_name)
    return frozenset(scalars), frozenset(lists)


def _options(kind: msgspec.inspect.Type) -> tuple[msgspec.inspect.Type, ...]:
    """The alternatives of a (possibly nested) union, or the type itself."""
    if isinstance(kind, msgspec.inspect.UnionType):
        return tuple(o for t in kind.types for o in _options(t))
    if isinstance(kind, msgspec.inspect.Metadata):
        return _options(kind.type)
    return (kind,)


def _is_text(kind: msgspec.inspect.Type) -> bool:
    """A property that takes text and no other scalar: a number or a boolean written
    there is meant as text (`str`, `str | list[str]`, not `int | str`)."""
    options = _options(kind)
    scalars = (msgspec.inspect.IntType, msgspec.inspect.FloatType, msgspec.inspect.BoolType)
    return any(isinstance(o, msgspec.inspect.StrType) for o in options) and not any(
        isinstance(o, scalars) for o in options
    )


def _coerce_text(cls: type, data: dict[str, Any]) -> None:
    """Numbers and booleans given to text properties become text, as Jackson coerces them
    (`id: 2024`, `key: 12345`, `dependsOn: [1]`)."""
    scalars, lists = _text_fields(cls)
    for key, value in data.items():
        if key in lists and isinstance(value, list):
            data[key] = [_as_text(item) for item in value]
        elif key in scalars:
            data[key] = _as_text(value)


def _as_text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def report_validation_error(report: Report, text: str, path: PathKey) -> PathKey:
    """Report one msgspec error under `path`; returns the relative path it points at."""
    match = _AT.match(text)
    message = match.group("msg") if match else text
    sub = _parse_path(match.group("path") or "") if match else ()
    unknown = _UNKNOWN.match(message)
    if unknown:
        name = unknown.group("name")
        report.add((*path, *sub, name), f"unknown property `{name}`", on_key=True)
        return sub
    missing = _MISSING.match(message)
    if missing:
        report.add((*path, *sub), f"missing required property `{missing.group('name')}`")
        return sub
    report.add((*path, *sub), f"invalid value: {message}")
    return sub


def _parse_path(text: str) -> PathKey:
    out: list[str | int] = []
    for name, index, opaque in _SEGMENT.findall(text):
        if opaque:
            break
        out.append(int(index) if index else name)
    return tuple(out)
