"""Kestra flow YAML → validated `Flow`, or every problem of the file with its position.

The order of work: parse (positions kept), inject plugin defaults (they may supply
required properties), build tasks, triggers, inputs and outputs bottom-up, run the flow-wide
rules, and only then decide: a flow with any problem is refused as a whole, with all of
its problems, so one edit-and-reload round fixes everything.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from kestrad.flows.aliases import property_notices
from kestrad.flows.build import TreeBuilder, canonical_type, normalize_labels
from kestrad.flows.checks import (
    build_inputs,
    build_outputs,
    check_dashed_references,
    check_identity,
    check_ids,
    check_precondition_ids,
    raw_ids,
)
from kestrad.flows.convert import convert_struct
from kestrad.flows.documents import split_documents
from kestrad.flows.plugin_defaults import apply_plugin_defaults
from kestrad.flows.problems import FlowLoadError, Problem
from kestrad.flows.properties import check_durations, check_value_expressions
from kestrad.flows.report import Report
from kestrad.flows.yaml_source import parse_yaml
from kestrad.model.flow import SLA, Flow, Listener, PluginDefault

__all__ = [
    "FlowLoadError",
    "Problem",
    "iter_flow_files",
    "load_file",
    "load_flow",
    "load_warnings",
    "validate_paths",
]

FLOW_SUFFIXES = (".yml", ".yaml")
_TASK_SECTIONS = ("tasks", "errors", "finally", "afterExecution")


def load_flow(
    source: str,
    *,
    file: str | None = None,
    strict: bool = True,
    global_defaults: Sequence[PluginDefault] = (),
) -> Flow:
    """Parse and validate one flow; raises FlowLoadError carrying every problem found.

    `strict=False` (re-reading stored flows) ignores unknown properties. `global_defaults`
    are plugin defaults from the daemon configuration, applied after the flow's own.
    """
    data, positions, yaml_problems = parse_yaml(source)
    report = Report(file, positions, strict=strict)
    for problem in yaml_problems:
        report.add_at(problem.line, problem.column, problem.path, problem.message)
    if data is None:
        if not yaml_problems:
            report.add_at(
                1, 1, (), "empty file: a flow needs at least `id`, `namespace` and `tasks`"
            )
        raise FlowLoadError(report.sorted())
    if not isinstance(data, dict):
        report.add((), "a flow must be a mapping of properties (`id`, `namespace`, `tasks`, …)")
        raise FlowLoadError(report.sorted())
    flow = _assemble(report, data, global_defaults)
    if report.problems or flow is None:
        raise FlowLoadError(report.sorted(), report.sorted_warnings())
    flow.__dict__["_source"] = source
    flow.__dict__["_warnings"] = report.sorted_warnings()
    flow.build_index()
    return flow


def load_warnings(flow: Flow) -> list[Problem]:
    """The notices of a loaded flow (deprecated names, expressions that will not render),
    each with its file:line:col; the flow loaded all the same."""
    return list(flow.__dict__.get("_warnings", ()))


def load_file(
    path: str | os.PathLike[str],
    *,
    strict: bool = True,
    global_defaults: Sequence[PluginDefault] = (),
) -> Flow:
    """`load_flow` on a file's text; unreadable files raise FlowLoadError too."""
    name = os.fspath(path)
    try:
        source = Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problem = Problem(file=name, line=1, column=1, path="", message=f"cannot read file: {exc}")
        raise FlowLoadError([problem]) from exc
    return load_flow(source, file=name, strict=strict, global_defaults=global_defaults)


def iter_flow_files(directory: str | os.PathLike[str]) -> list[Path]:
    """Every `*.yml`/`*.yaml` file under `directory`, nested folders included, sorted;
    hidden files and folders (name starting with `.`) are skipped."""
    found: list[Path] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.startswith(".") and name.endswith(FLOW_SUFFIXES):
                found.append(Path(root, name))
    return sorted(found)


def validate_paths(
    paths: Iterable[str | os.PathLike[str]],
    *,
    global_defaults: Sequence[PluginDefault] = (),
    warnings: list[Problem] | None = None,
) -> tuple[list[Flow], list[Problem]]:
    """Load every flow file named or found under the given directories.

    Returns the flows that loaded and every problem of every file that did not; the
    notices of every file (loaded or not) are appended to `warnings` when given. A file
    holding several `---`-separated documents is checked document by document, lines
    counted from the top of the file. A second file (or document) declaring a flow
    another already declares is a problem, as the daemon's folder refuses it: the first
    found (in path order) keeps the flow.
    """
    flows: list[Flow] = []
    problems: list[Problem] = []
    declared: dict[tuple[str, str], tuple[Path, int]] = {}
    for path in paths:
        target = Path(path)
        if target.is_dir():
            files = iter_flow_files(target)
        elif target.exists():
            files = [target]
        else:
            problems.append(
                Problem(
                    file=str(target), line=1, column=1, path="", message="no such file or directory"
                )
            )
            continue
        for file in files:
            try:
                source = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(
                    Problem(
                        file=str(file),
                        line=1,
                        column=1,
                        path="",
                        message=f"cannot read file: {exc}",
                    )
                )
                continue
            for offset, document in split_documents(source):
                start = offset + document.count("\n", 0, len(document) - len(document.lstrip())) + 1
                try:
                    flow = load_flow(document, file=str(file), global_defaults=global_defaults)
                except FlowLoadError as exc:
                    problems.extend(_shifted(exc.problems, offset))
                    if warnings is not None:
                        warnings.extend(_shifted(exc.warnings, offset))
                    continue
                if warnings is not None:
                    warnings.extend(_shifted(load_warnings(flow), offset))
                first, first_line = declared.setdefault((flow.namespace, flow.id), (file, start))
                if (first, first_line) != (file, start):
                    where = str(first) if first != file else f"line {first_line} of this file"
                    problems.append(
                        Problem(
                            file=str(file),
                            line=start,
                            column=1,
                            path="id",
                            message=f"{flow.namespace}/{flow.id} is already declared by {where}; "
                            "two files cannot declare the same flow",
                        )
                    )
                    continue
                flows.append(flow)
    return flows, problems


def _shifted(problems: list[Problem], offset: int) -> list[Problem]:
    """Problems of one document, their lines counted from the top of its file."""
    if not offset:
        return problems
    return [
        Problem(file=p.file, line=p.line + offset, column=p.column, path=p.path, message=p.message)
        for p in problems
    ]


def _assemble(
    report: Report, data: dict[str, Any], global_defaults: Sequence[PluginDefault]
) -> Flow | None:
    own_defaults = _plugin_defaults(report, data)
    data = apply_plugin_defaults(data, [*own_defaults, *global_defaults], canonical_type)
    check_identity(report, data)
    builder = TreeBuilder(report, data.get("namespace"), data.get("id"))
    flow_data: dict[str, Any] = {}
    ok = True
    for key, value in data.items():
        built: Any = value
        if key in _TASK_SECTIONS:
            built = builder.task_list(value, (key,))
            if key == "tasks" and not value:
                report.add((key,), "`tasks` must not be empty")
                built = None
        elif key == "listeners":
            built = _listeners(report, builder, value)
        elif key == "triggers":
            built = builder.trigger_list(value, (key,))
        elif key == "labels":
            built = normalize_labels(report, value, (key,))
        elif key == "inputs":
            built = build_inputs(report, value, (key,))
        elif key == "outputs":
            built = build_outputs(report, value, (key,))
        elif key == "sla":
            built = _slas(report, value)
        elif key in {"pluginDefaults", "taskDefaults"}:
            continue
        elif key == "concurrency":
            _concurrency(report, value)
        if built is None and value is not None:
            ok = False
        flow_data[key] = built
    if "tasks" not in data:
        report.add((), "missing required property `tasks` (a flow needs at least one task)")
        flow_data["tasks"] = []
    if own_defaults:
        flow_data["pluginDefaults"] = own_defaults
    if flow_data.get("tasks") is None:
        flow_data["tasks"] = []
    for key in ("variables", "outputs"):
        check_value_expressions(report, data.get(key), (key,))
    for key, notice in property_notices("flow", data):
        report.warn(tuple(key.split(".")), notice, on_key=True)
    inputs = data.get("inputs")
    for index, item in enumerate(inputs if isinstance(inputs, list) else ()):
        for key, notice in property_notices("input", item):
            report.warn(("inputs", index, key), notice, on_key=True)
    check_ids(report, builder.task_ids, "task")
    check_ids(report, raw_ids(data.get("triggers"), ("triggers",)), "trigger")
    check_precondition_ids(report, data.get("triggers"))
    check_dashed_references(report, data, builder.task_ids)
    flow = convert_struct(report, flow_data, Flow, (), "flow")
    return flow if ok else None


def _plugin_defaults(report: Report, data: dict[str, Any]) -> list[PluginDefault]:
    """`pluginDefaults` then the deprecated `taskDefaults`, each entry checked."""
    out: list[PluginDefault] = []
    for key in ("pluginDefaults", "taskDefaults"):
        value = data.get(key)
        if value is None:
            continue
        if key == "taskDefaults":
            report.warn((key,), "`taskDefaults` is replaced by `pluginDefaults`", on_key=True)
        if not isinstance(value, list):
            report.add((key,), "expected a list of `{type, values, forced}`")
            continue
        for i, raw in enumerate(value):
            if not isinstance(raw, dict):
                report.add((key, i), "a plugin default must be a mapping `{type, values, forced}`")
                continue
            item = convert_struct(report, raw, PluginDefault, (key, i), "plugin default")
            if item is not None:
                out.append(item)
    return out


def _listeners(report: Report, builder: TreeBuilder, value: Any) -> list[Listener] | None:
    if not isinstance(value, list):
        report.add(("listeners",), "expected a list of `{conditions, tasks}`")
        return None
    out: list[Listener] = []
    ok = True
    for i, raw in enumerate(value):
        path = ("listeners", i)
        if not isinstance(raw, dict):
            report.add(path, "a listener must be a mapping `{conditions, tasks}`")
            ok = False
            continue
        data = dict(raw)
        tasks = builder.task_list(raw.get("tasks"), (*path, "tasks"))
        if not raw.get("tasks"):
            report.add((*path, "tasks"), "`tasks` must not be empty")
            ok = False
        data["tasks"] = tasks or []
        if raw.get("conditions") is not None:
            conditions = builder.conditions(raw["conditions"], (*path, "conditions"))
            ok = ok and conditions is not None
            data["conditions"] = conditions
        listener = convert_struct(report, data, Listener, path, "listener")
        if listener is None or tasks is None:
            ok = False
        else:
            out.append(listener)
    return out if ok else None


def _slas(report: Report, value: Any) -> list[SLA] | None:
    if not isinstance(value, list):
        report.add(("sla",), "expected a list of SLAs")
        return None
    out: list[SLA] = []
    ok = True
    for i, raw in enumerate(value):
        path = ("sla", i)
        if not isinstance(raw, dict):
            report.add(path, "an SLA must be a mapping with `id`, `type` and `behavior`")
            ok = False
            continue
        data = dict(raw)
        if "labels" in data:
            data["labels"] = normalize_labels(report, data["labels"], (*path, "labels"))
        if report.strict:
            check_durations(report, data, ("duration",), path)
        item = convert_struct(report, data, SLA, path, "SLA")
        if item is None:
            ok = False
            continue
        if item.type == "MAX_DURATION" and item.duration is None:
            report.add(path, "a MAX_DURATION SLA needs `duration`")
        if item.type == "EXECUTION_ASSERTION" and item.assert_ is None:
            report.add(path, "an EXECUTION_ASSERTION SLA needs `assert`")
        out.append(item)
    return out if ok else None


def _concurrency(report: Report, value: Any) -> None:
    if isinstance(value, dict):
        limit = value.get("limit")
        if isinstance(limit, int) and not isinstance(limit, bool) and limit < 1:
            report.add(("concurrency", "limit"), "`limit` must be greater than 0")
