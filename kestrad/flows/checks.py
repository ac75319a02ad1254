"""Flow-wide rules (Kestra's FlowValidator) and the building of inputs and outputs.

These rules look across the whole flow: identifiers and their patterns, uniqueness of
task, trigger, input and output ids, the input dependency graph, and the properties each
input type accepts.
"""

from __future__ import annotations

import re
from typing import Any

from kestrad.flows.convert import convert_struct
from kestrad.flows.problems import PathKey, format_path
from kestrad.flows.report import Report
from kestrad.flows.task_rules import find_cycle
from kestrad.model.flow import INPUT_COMMON_PROPS, INPUT_TYPE_PROPS, INPUT_TYPES, Input, Output
from kestrad.model.input_types import InvalidValue, parse_scalar

FLOW_ID = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$")
FLOW_ID_MAX = 100
NAMESPACE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
NAMESPACE_MAX = 150
TASK_ID = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$")
INPUT_ID = re.compile(r"^[a-zA-Z0-9][.a-zA-Z0-9_-]*$")
DISPLAY_NAME_MAX = 64


def check_identity(report: Report, data: dict[str, Any]) -> None:
    """`id` and `namespace` patterns and lengths."""
    flow_id = data.get("id")
    if isinstance(flow_id, str) and (not FLOW_ID.match(flow_id) or len(flow_id) > FLOW_ID_MAX):
        report.add(
            ("id",),
            f"invalid flow id `{flow_id}`: it must match `{FLOW_ID.pattern}` "
            f"and have at most {FLOW_ID_MAX} characters",
        )
    namespace = data.get("namespace")
    if isinstance(namespace, str) and (
        not NAMESPACE.match(namespace) or len(namespace) > NAMESPACE_MAX
    ):
        report.add(
            ("namespace",),
            f"invalid namespace `{namespace}`: it must match `{NAMESPACE.pattern}` "
            f"(lower case) and have at most {NAMESPACE_MAX} characters",
        )


def check_ids(report: Report, ids: list[tuple[str, PathKey]], what: str) -> None:
    """Each id matches the task-id pattern and appears once across the whole list."""
    first: dict[str, PathKey] = {}
    for value, path in ids:
        if not TASK_ID.match(value):
            report.add(
                (*path, "id"), f"invalid {what} id `{value}`: it must match `{TASK_ID.pattern}`"
            )
        if value in first:
            report.add(
                (*path, "id"),
                f"duplicate {what} id `{value}` (first used at {format_path(first[value])})",
            )
        else:
            first[value] = path


def raw_ids(items: Any, path: PathKey) -> list[tuple[str, PathKey]]:
    """(id, path) of every mapping of a list that has a string `id`."""
    if not isinstance(items, list):
        return []
    return [
        (item["id"], (*path, i))
        for i, item in enumerate(items)
        if isinstance(item, dict) and isinstance(item.get("id"), str)
    ]


# -- inputs -------------------------------------------------------------------------------


def build_inputs(report: Report, value: Any, path: PathKey) -> list[Input] | None:
    """Every input of the flow, checked one by one and then together (ids, dependsOn)."""
    if value is None:
        return []
    if not isinstance(value, list):
        report.add(path, "expected a list of inputs")
        return None
    built: list[Input | None] = []
    for i, raw in enumerate(value):
        built.append(_input(report, raw, (*path, i)))
    inputs = [item for item in built if item is not None]
    _input_ids(report, value, path)
    _depends_on(report, inputs, value, path)
    return None if len(inputs) != len(built) else inputs


def _input(report: Report, raw: Any, path: PathKey) -> Input | None:
    if not isinstance(raw, dict):
        report.add(path, "an input must be a mapping with `id` and `type`")
        return None
    data = dict(raw)
    if data.get("id") is None and data.get("name") is not None:
        data["id"] = data["name"]
    input_type = data.get("type")
    ok = True
    if input_type is not None and input_type not in INPUT_TYPES:
        report.add(
            (*path, "type"),
            f"invalid input type `{input_type}`, expected one of {', '.join(sorted(INPUT_TYPES))}",
        )
        ok = False
    elif isinstance(input_type, str):
        allowed = INPUT_COMMON_PROPS | INPUT_TYPE_PROPS[input_type]
        for key in list(data):
            if key not in allowed and key in _INPUT_FIELDS:
                if report.strict:
                    report.add(
                        (*path, key),
                        f"unknown property `{key}` on an input of type {input_type}",
                        on_key=True,
                    )
                del data[key]
    input_id = data.get("id")
    if isinstance(input_id, str) and not INPUT_ID.match(input_id):
        where = (*path, "id") if "id" in raw else (*path, "name")
        report.add(where, f"invalid input id `{input_id}`: it must match `{INPUT_ID.pattern}`")
        ok = False
    item = convert_struct(report, data, Input, path, "input")
    if item is None:
        return None
    ok = _input_rules(report, item, path) and ok
    return item if ok else None


_INPUT_FIELDS = frozenset(
    {
        "validator",
        "values",
        "options",
        "expression",
        "allowCustomValue",
        "isRadio",
        "itemType",
        "min",
        "max",
        "after",
        "before",
        "extension",
    }
)


def _input_rules(report: Report, item: Input, path: PathKey) -> bool:
    before = len(report.problems)
    if item.display_name is not None and len(item.display_name) > DISPLAY_NAME_MAX:
        report.add(
            (*path, "displayName"), f"`displayName` must have at most {DISPLAY_NAME_MAX} characters"
        )
    kind = item.type
    if kind == "ARRAY" and item.item_type is None:
        report.add(path, "missing required property `itemType` (ARRAY inputs need one)")
    if item.item_type is not None:
        if item.item_type not in INPUT_TYPES:
            report.add((*path, "itemType"), f"invalid item type `{item.item_type}`")
        elif item.item_type == "ARRAY":
            report.add((*path, "itemType"), "`itemType` cannot be `ARRAY`")
    if kind == "FILE" and item.defaults is not None:
        report.add((*path, "defaults"), "no `defaults` can be set for inputs of type FILE")
    if item.validator is not None:
        try:
            re.compile(item.validator)
        except re.error as exc:
            report.add(
                (*path, "validator"),
                f"validator `{item.validator}` is not a valid regular expression: {exc}",
            )
    if (
        kind in {"SELECT", "ENUM"}
        and not item.values
        and not (kind == "SELECT" and item.expression)
    ):
        report.add(
            path,
            f"a {kind} input needs `values`" + (" or `expression`" if kind == "SELECT" else ""),
        )
    if kind == "MULTISELECT" and not (item.values or item.options or item.expression):
        report.add(path, "a MULTISELECT input needs `values` or `expression`")
    _bounds(report, item, path)
    return len(report.problems) == before


def _bounds(report: Report, item: Input, path: PathKey) -> None:
    """`min`/`max`/`after`/`before` must themselves be values of the input's type."""
    bound_type = "FLOAT" if item.type in {"INT", "FLOAT"} else item.type
    for key, value in (
        ("min", item.min),
        ("max", item.max),
        ("after", item.after),
        ("before", item.before),
    ):
        if value is None:
            continue
        try:
            parse_scalar(bound_type, value)
        except InvalidValue as exc:
            report.add((*path, key), f"`{key}` is not a valid {item.type} bound: {exc}")


def _input_ids(report: Report, raw: list[Any], path: PathKey) -> None:
    first: dict[str, int] = {}
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            continue
        key = "id" if item.get("id") is not None else "name"
        value = item.get(key)
        if not isinstance(value, str):
            continue
        if value in first:
            report.add(
                (*path, i, key),
                f"duplicate input id `{value}` (first used at {format_path((*path, first[value]))})",
            )
        else:
            first[value] = i


def _depends_on(report: Report, inputs: list[Input], raw: list[Any], path: PathKey) -> None:
    declared = {item.id for item in inputs} | {
        r.get("id") or r.get("name") for r in raw if isinstance(r, dict)
    }
    graph: dict[str, list[str]] = {}
    positions: dict[str, int] = {}
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            continue
        input_id = item.get("id") or item.get("name")
        depends = item.get("dependsOn")
        if not isinstance(input_id, str) or not isinstance(depends, dict):
            continue
        names = depends.get("inputs") or []
        if not isinstance(names, list):
            continue
        graph[input_id] = [n for n in names if isinstance(n, str)]
        positions[input_id] = i
        for j, name in enumerate(names):
            if name not in declared:
                report.add(
                    (*path, i, "dependsOn", "inputs", j),
                    f"input `{input_id}` depends on a non-existent input `{name}`",
                )
    cycle = find_cycle(graph)
    if cycle:
        report.add(
            (*path, positions[cycle[0]], "dependsOn"),
            f"cycle in input dependencies: {' -> '.join([*cycle, cycle[0]])}",
        )


# -- outputs ------------------------------------------------------------------------------


def build_outputs(report: Report, value: Any, path: PathKey) -> list[Output] | None:
    """Flow outputs: each a valid Output with a valid type, ids unique."""
    if value is None:
        return []
    if not isinstance(value, list):
        report.add(path, "expected a list of outputs")
        return None
    out: list[Output] = []
    ok = True
    for i, raw in enumerate(value):
        if not isinstance(raw, dict):
            report.add((*path, i), "an output must be a mapping with `id` and `value`")
            ok = False
            continue
        item = convert_struct(report, raw, Output, (*path, i), "output")
        if item is None:
            ok = False
            continue
        if not INPUT_ID.match(item.id):
            report.add(
                (*path, i, "id"),
                f"invalid output id `{item.id}`: it must match `{INPUT_ID.pattern}`",
            )
            ok = False
        if item.type is not None and item.type not in INPUT_TYPES:
            report.add((*path, i, "type"), f"invalid output type `{item.type}`")
            ok = False
        out.append(item)
    first: dict[str, int] = {}
    for output_id, where in raw_ids(value, path):
        if output_id in first:
            report.add((*where, "id"), f"duplicate output id `{output_id}`")
            ok = False
        else:
            first[output_id] = 0
    return out if ok else None


# -- references Pebble would read as subtractions --------------------------------------------
_DASH_ADVICE = "keys with dashes require bracket notation"


def check_dashed_references(
    report: Report, data: dict[str, Any], tasks: list[tuple[str, PathKey]]
) -> None:
    """`{{ inputs.key-name }}` or `{{ outputs.task-id.value }}` read as a subtraction, so
    Kestra refuses them and asks for `inputs['key-name']` (FlowValidationTest
    #inputUsageWithSubtractionSymbolFailValidation, #outputUsageWithSubtractionSymbol…).
    Only ids that contain a dash are looked for, as Kestra does."""
    inputs = data.get("inputs")
    dashed_inputs = [
        item["id"]
        for item in (inputs if isinstance(inputs, list) else ())
        if isinstance(item, dict) and isinstance(item.get("id"), str) and "-" in item["id"]
    ]
    input_patterns = [
        re.compile(r"\{\{\s*inputs\." + re.escape(i) + r"\s*\}\}") for i in dashed_inputs
    ]
    output_patterns = [
        re.compile(r"\{\{\s*outputs\." + re.escape(task_id) + r"\.[^}]+\s*\}\}")
        for task_id, _ in tasks
        if "-" in task_id
    ]
    for patterns, what in ((input_patterns, "input"), (output_patterns, "output")):
        if not patterns:
            continue
        offending = [
            (task_id, path) for task_id, path in tasks if _mentions(_at(data, path), patterns)
        ]
        advice = f"use {what}s[key-name] instead of {what}s.key-name — {_DASH_ADVICE}"
        if offending:
            names = ", ".join(task_id for task_id, _ in offending)
            report.add(
                (*offending[0][1], "id"),
                f"Invalid {what} reference: {advice}, offending tasks: [{names}]",
            )
        if what != "output":
            continue
        outputs = data.get("outputs")
        flow_outputs = [
            (item["id"], ("outputs", i))
            for i, item in enumerate(outputs if isinstance(outputs, list) else ())
            if isinstance(item, dict)
            and isinstance(item.get("id"), str)
            and _mentions(item, patterns)
        ]
        if flow_outputs:
            names = ", ".join(output_id for output_id, _ in flow_outputs)
            report.add(
                (*flow_outputs[0][1], "id"),
                f"Invalid output reference: {advice}, offending outputs: [{names}]",
            )


def check_precondition_ids(report: Report, triggers: Any) -> None:
    """Two Flow triggers may not share a `preconditions.id`: it keys the window state
    (FlowValidationTest#duplicatePreconditionsIdShouldFailValidation)."""
    seen: set[str] = set()
    for index, trigger in enumerate(triggers if isinstance(triggers, list) else ()):
        preconditions = trigger.get("preconditions") if isinstance(trigger, dict) else None
        if not isinstance(preconditions, dict) or not isinstance(preconditions.get("id"), str):
            continue
        if preconditions["id"] in seen:
            report.add(
                ("triggers", index, "preconditions", "id"),
                f"Duplicate preconditions with id [{preconditions['id']}]",
            )
        seen.add(preconditions["id"])


def _at(data: Any, path: PathKey) -> Any:
    for key in path:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _mentions(value: Any, patterns: list[re.Pattern[str]]) -> bool:
    """Whether any string inside `value` (maps and lists walked) matches a pattern."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if any(p.search(item) for p in patterns):
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
