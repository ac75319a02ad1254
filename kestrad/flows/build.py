"""Raw task, trigger and condition mappings → typed objects, reporting every fault.

Children are built before their parent (a parent's Struct field is `list[Any]` and must
receive finished Task objects), so a walk here mirrors the task tree. Ids and paths of
every task met are recorded for the flow-wide checks (uniqueness), including tasks whose
own properties are wrong.
"""

from __future__ import annotations

from typing import Any

from kestrad.flows.aliases import legacy_task_type, property_notices, type_notices
from kestrad.flows.convert import convert_struct, struct_fields
from kestrad.flows.problems import PathKey
from kestrad.flows.properties import check_expressions, check_literals
from kestrad.flows.report import Report
from kestrad.flows.task_rules import REFUSED_TYPES, RuleContext, check_task
from kestrad.flows.trigger_rules import check_trigger
from kestrad.model.task_tree import child_attrs, encode_names
from kestrad.tasks import registry
from kestrad.triggers.conditions import (
    CONDITION_ALIASES,
    CONDITION_TYPES,
    NESTED_LIST,
    NESTED_MAP,
    canonical_condition_type,
)
from kestrad.triggers.registry import all_trigger_types, resolve_trigger

EE_WORKER_GROUP = "workerGroup is an Enterprise Edition feature"
SYSTEM_PREFIX = "system."
SYSTEM_ALLOWED = frozenset({"system.readOnly"})


def resolve_task_class(type_name: str) -> type | None:
    """The task class for a type name, its registered aliases, or a legacy package name."""
    cls = registry.resolve(type_name)
    if cls is None:
        legacy = legacy_task_type(type_name)
        if legacy is not None:
            cls = registry.resolve(legacy)
    return cls


def canonical_type(type_name: str) -> str:
    """Current name of any plugin type (task, trigger or condition); unknown names unchanged."""
    cls = resolve_task_class(type_name)
    if cls is not None:
        return getattr(cls, "type_name", type_name)
    trigger = resolve_trigger(type_name) or resolve_trigger(legacy_task_type(type_name) or "")
    if trigger is not None:
        return trigger.type_name
    return canonical_condition_type(type_name) or type_name


def closest(name: str, known: list[str]) -> str:
    """`; did you mean: a, b` for the known names closest to `name`, or ``."""
    import difflib  # only for a name that is not known: a refused flow

    short = {k.rsplit(".", 1)[-1]: k for k in known}
    matches = difflib.get_close_matches(name, known, n=3, cutoff=0.75)
    for hit in difflib.get_close_matches(name.rsplit(".", 1)[-1], list(short), n=3, cutoff=0.6):
        if short[hit] not in matches:
            matches.append(short[hit])
    return f"; closest known types: {', '.join(matches[:3])}" if matches else ""


class TreeBuilder:
    """Builds the tasks, triggers and conditions of one flow into typed objects."""

    def __init__(self, report: Report, namespace: Any, flow_id: Any) -> None:
        self.report = report
        self.rules = RuleContext(namespace, flow_id, resolve_task_class)
        # (task id, path) of every task met, for the flow-wide uniqueness check.
        self.task_ids: list[tuple[str, PathKey]] = []

    # -- tasks ----------------------------------------------------------------------------

    def task_list(self, value: Any, path: PathKey) -> list[Any] | None:
        """Every task of a list; None when the list or one of its tasks is invalid."""
        if value is None:
            return []
        if not isinstance(value, list):
            self.report.add(path, "expected a list of tasks")
            return None
        built = [self.task(item, (*path, i)) for i, item in enumerate(value)]
        return None if any(t is None for t in built) else built

    def task(self, raw: Any, path: PathKey) -> Any | None:
        """One task (and its subtree), or None when anything in it is wrong."""
        report = self.report
        if not isinstance(raw, dict):
            report.add(path, "a task must be a mapping with `id` and `type`")
            return None
        task_id = raw.get("id")
        if isinstance(task_id, str):
            self.task_ids.append((task_id, path))
        type_name = raw.get("type")
        if not isinstance(type_name, str) or not type_name:
            if task_id is None:
                report.add(path, "missing required property `id`")
            report.add(path, "missing required property `type`")
            return None
        refusal = REFUSED_TYPES.get(type_name)
        if refusal is not None:
            report.add((*path, "type"), refusal)
            return None
        cls = resolve_task_class(type_name)
        if cls is None:
            if task_id is None:
                report.add(path, "missing required property `id`")
            known = list(registry.all_types())
            report.add(
                (*path, "type"), f"unknown task type `{type_name}`{closest(type_name, known)}"
            )
            return None
        canonical = getattr(cls, "type_name", type_name)
        for notice in type_notices(type_name, canonical):
            report.warn((*path, "type"), notice)
        for key, notice in property_notices("task", raw):
            report.warn((*path, *key.split(".")), notice, on_key=True)
        data = dict(raw)
        data["type"] = canonical
        ok = self._children(cls, data, path)
        # Stored revisions (re-read leniently) were checked when they were saved.
        bad = check_literals(report, cls, data, path) if report.strict else set()
        check_expressions(report, cls, raw, path)
        task = convert_struct(report, data, cls, path, canonical, reported=bad)
        self._common_checks(raw, path)
        check_task(report, canonical, raw, path, self.rules)
        return task if ok else None

    def _children(self, cls: type, data: dict[str, Any], path: PathKey) -> bool:
        """Replace child task mappings in `data` by built tasks; False if any is invalid."""
        lists, maps, dags = child_attrs(cls)
        names = encode_names(cls)
        fields = struct_fields(cls)
        ok = True
        singles = getattr(cls, "single_child_fields", ())
        for attr in lists:
            key = names.get(attr, attr)
            if key not in data:
                continue
            if attr in singles and isinstance(data[key], dict):
                data[key] = [data[key]]  # one task (Pause.onPause), held as a list of one
            required = key in fields and fields[key].required
            if required and not data[key]:
                self.report.add((*path, key), f"`{key}` must not be empty")
                data[key] = []
                ok = False
                continue
            built = self.task_list(data[key], (*path, key))
            ok = ok and built is not None
            data[key] = built or []
        for attr in maps:
            key = names.get(attr, attr)
            if data.get(key) is None:
                continue
            value = data[key]
            if not isinstance(value, dict):
                self.report.add((*path, key), "expected a mapping of name → list of tasks")
                data[key] = {}
                ok = False
                continue
            out: dict[str, list[Any]] = {}
            for name, children in value.items():
                built = self.task_list(children, (*path, key, name))
                ok = ok and built is not None
                out[name] = built or []
            data[key] = out
        for attr in dags:
            key = names.get(attr, attr)
            if key not in data:
                continue
            required = key in fields and fields[key].required
            if required and not data[key]:
                self.report.add((*path, key), f"`{key}` must not be empty")
                data[key] = []
                ok = False
                continue
            nodes = self._dag_nodes(data[key], (*path, key))
            ok = ok and nodes is not None
            data[key] = nodes or []
        return ok

    def _dag_nodes(self, value: Any, path: PathKey) -> list[dict[str, Any]] | None:
        if not isinstance(value, list):
            self.report.add(path, "expected a list of `{task, dependsOn}` entries")
            return None
        out: list[dict[str, Any]] = []
        ok = True
        for i, node in enumerate(value):
            if not isinstance(node, dict) or "task" not in node:
                self.report.add((*path, i), "a Dag entry must be a mapping with `task`")
                ok = False
                continue
            task = self.task(node["task"], (*path, i, "task"))
            if task is None:
                ok = False
                continue
            out.append({**node, "task": task})
        return out if ok else None

    def _common_checks(self, raw: dict[str, Any], path: PathKey) -> None:
        """Rules every task and trigger shares: no worker groups (EE)."""
        if raw.get("workerGroup") is not None:
            self.report.add((*path, "workerGroup"), EE_WORKER_GROUP, on_key=True)

    # -- triggers -------------------------------------------------------------------------

    def trigger_list(self, value: Any, path: PathKey) -> list[Any] | None:
        if value is None:
            return []
        if not isinstance(value, list):
            self.report.add(path, "expected a list of triggers")
            return None
        built = [self.trigger(item, (*path, i)) for i, item in enumerate(value)]
        return None if any(t is None for t in built) else built

    def trigger(self, raw: Any, path: PathKey) -> Any | None:
        report = self.report
        if not isinstance(raw, dict):
            report.add(path, "a trigger must be a mapping with `id` and `type`")
            return None
        type_name = raw.get("type")
        if not isinstance(type_name, str) or not type_name:
            report.add(path, "missing required property `type`")
            return None
        cls = resolve_trigger(type_name) or resolve_trigger(legacy_task_type(type_name) or "")
        if cls is None:
            known = list(all_trigger_types())
            report.add(
                (*path, "type"), f"unknown trigger type `{type_name}`{closest(type_name, known)}"
            )
            return None
        for notice in type_notices(type_name, cls.type_name):
            report.warn((*path, "type"), notice)
        for key, notice in property_notices("trigger", raw):
            report.warn((*path, key), notice, on_key=True)
        data = dict(raw)
        data["type"] = cls.type_name
        ok = True
        if "labels" in data:
            labels = normalize_labels(report, data["labels"], (*path, "labels"))
            ok = labels is not None or data["labels"] is None
            data["labels"] = labels
        for key in ("conditions", "scheduleConditions"):
            if data.get(key) is not None:
                conditions = self.conditions(data[key], (*path, key))
                ok = ok and conditions is not None
                data[key] = conditions
        check_expressions(report, cls, raw, path)
        trigger = convert_struct(report, data, cls, path, cls.type_name)
        self._common_checks(raw, path)
        check_trigger(report, cls.type_name, data, path)
        return trigger if ok else None

    # -- conditions -----------------------------------------------------------------------

    def conditions(self, value: Any, path: PathKey) -> list[dict[str, Any]] | None:
        """A list of conditions with known types rewritten to their current names."""
        if not isinstance(value, list):
            self.report.add(path, "expected a list of conditions")
            return None
        built = [self.condition(item, (*path, i)) for i, item in enumerate(value)]
        valid = [c for c in built if c is not None]
        return valid if len(valid) == len(built) else None

    def condition(self, raw: Any, path: PathKey) -> dict[str, Any] | None:
        report = self.report
        if not isinstance(raw, dict):
            report.add(path, "a condition must be a mapping with a `type`")
            return None
        type_name = raw.get("type")
        if not isinstance(type_name, str) or not type_name:
            report.add(path, "missing required property `type`")
            return None
        canonical = canonical_condition_type(type_name)
        if canonical is None:
            known = sorted(CONDITION_TYPES | set(CONDITION_ALIASES))
            report.add(
                (*path, "type"),
                f"unknown condition type `{type_name}`{closest(type_name, known)}",
            )
            return None
        for notice in type_notices(type_name, canonical):
            report.warn((*path, "type"), notice)
        out = {**raw, "type": canonical}
        nested = raw.get("conditions")
        if canonical in NESTED_LIST:
            built = self.conditions(nested, (*path, "conditions"))
            if built is None:
                return None
            out["conditions"] = built
        elif canonical in NESTED_MAP:
            if not isinstance(nested, dict) or not nested:
                report.add((*path, "conditions"), "expected a mapping of name → condition")
                return None
            named = {k: self.condition(v, (*path, "conditions", k)) for k, v in nested.items()}
            if any(v is None for v in named.values()):
                return None
            out["conditions"] = named
        return out


def normalize_labels(report: Report, value: Any, path: PathKey) -> dict[str, str] | None:
    """Labels as a map or a `[{key, value}]` list → `{key: value}`; system labels refused."""
    if value is None:
        return None
    pairs: list[tuple[Any, Any, PathKey]] = []
    if isinstance(value, dict):
        pairs = [(k, v, (*path, k)) for k, v in value.items()]
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if not isinstance(item, dict) or set(item) - {"key", "value"} or "key" not in item:
                report.add((*path, i), "a label must be a mapping `{key, value}`")
                return None
            pairs.append((item["key"], item.get("value"), (*path, i)))
    else:
        report.add(path, "labels must be a mapping or a list of `{key, value}`")
        return None
    out: dict[str, str] = {}
    ok = True
    for key, item, where in pairs:
        if not isinstance(key, str) or not key:
            report.add(where, "a label key must be a non-empty string")
            ok = False
            continue
        if key.startswith(SYSTEM_PREFIX) and key not in SYSTEM_ALLOWED:
            report.add(
                where,
                f"system labels can only be set by Kestra itself, offending label: {key}={item}",
                on_key=isinstance(value, dict),
            )
            ok = False
            continue
        text = label_text(item)
        if text is None:
            report.add(where, f"the value of label `{key}` must be a string, number or boolean")
            ok = False
            continue
        out[key] = text
    return out if ok else None


def label_text(value: Any) -> str | None:
    """A label value as text (`true`, `3`); None for maps, lists and nulls."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None
