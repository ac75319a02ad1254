"""JSON Schemas of what a flow may contain, generated from the classes that load it.

Editors (Kestra's UI, an IDE with a YAML language server) complete and check flows with
these schemas; they come from the same msgspec Structs the loader converts flows into, so
a property the loader accepts is in the schema and one it refuses is not. Each task and
trigger schema pins its `type` to its Kestra name, so a flow schema's `oneOf` of all the
tasks picks the right one by `type`.

The catalog groups the types as Kestra's plugin listing does: by the package of the type
name (`io.kestra.plugin.core.flow`, `io.kestra.plugin.scripts.shell`, …).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import msgspec

from kestrad.model.flow import INPUT_TYPES, Flow
from kestrad.model.registry import Registry
from kestrad.tasks.base import Task, TaskKind
from kestrad.tasks.registry import TASKS
from kestrad.triggers.base import Trigger
from kestrad.triggers.conditions import CONDITION_TYPES
from kestrad.triggers.registry import TRIGGERS

Schema = dict[str, Any]


class SchemaType(enum.StrEnum):
    """The schema kinds Kestra's `plugins/schemas/{type}` serves that kestrad has."""

    FLOW = "FLOW"
    TASK = "TASK"
    TRIGGER = "TRIGGER"
    PLUGINDEFAULT = "PLUGINDEFAULT"


class PluginClass(msgspec.Struct, kw_only=True, frozen=True):
    """One type of a plugin group, as Kestra's listing shows it."""

    cls: str
    title: str
    description: str
    deprecated: bool = False


class PluginGroup(msgspec.Struct, kw_only=True, frozen=True):
    """A plugin group: the types of one package."""

    name: str
    title: str
    group: str
    version: str
    tasks: list[PluginClass]
    triggers: list[PluginClass]
    conditions: list[PluginClass]
    categories: list[str]
    subGroup: str | None = None


def task_types() -> dict[str, type[Task]]:
    return TASKS.all()


def trigger_types() -> dict[str, type[Trigger]]:
    return {name: kind.schema for name, kind in TRIGGERS.all().items()}


def type_schema(type_name: str) -> Schema | None:
    """The schema of one task or trigger type (or alias), None when it is unknown."""
    cls = TASKS.resolve(type_name)
    if cls is not None:
        canonical = TASKS.canonical(type_name)
        return _class_schema(canonical, cls, TASKS.aliases_of(canonical))
    kind = TRIGGERS.resolve(type_name)
    if kind is not None:
        canonical = TRIGGERS.canonical(type_name)
        return _class_schema(canonical, kind.schema, TRIGGERS.aliases_of(canonical))
    return None


def schema_for(kind: SchemaType, *, array_of: bool = False) -> Schema:
    """The whole schema of one kind: a task or trigger is any of the known ones."""
    if kind == SchemaType.FLOW:
        schema = _flow_schema()
    elif kind == SchemaType.TASK:
        schema = _one_of(task_types(), TASKS)
    elif kind == SchemaType.TRIGGER:
        schema = _one_of(trigger_types(), TRIGGERS)
    else:
        schema = _plugin_default_schema()
    if array_of:
        defs = schema.pop("$defs", None)
        schema = {"type": "array", "items": schema}
        if defs:
            schema["$defs"] = defs  # references are `#/$defs/…`: they must stay at the root
    return schema


def catalog() -> list[PluginGroup]:
    """Every known type, grouped by package, sorted by group name."""
    groups: dict[str, dict[str, list[PluginClass]]] = {}

    def place(name: str, bucket: str, description: str, deprecated: bool = False) -> None:
        package = name.rsplit(".", 1)[0]
        groups.setdefault(package, {"tasks": [], "triggers": [], "conditions": []})[bucket].append(
            PluginClass(
                cls=name,
                title=name.rsplit(".", 1)[1],
                description=description,
                deprecated=deprecated,
            )
        )

    for name, cls in task_types().items():
        place(name, "tasks", _summary(cls), deprecated="deprecated" in _summary(cls).lower())
    for name, schema_cls in trigger_types().items():
        place(name, "triggers", _summary(schema_cls))
    for name in sorted(CONDITION_TYPES):
        place(name, "conditions", "")
    return [
        PluginGroup(
            name=package,
            title=package.rsplit(".", 1)[1],
            group=package,
            version="builtin",
            tasks=sorted(members["tasks"], key=lambda c: c.cls),
            triggers=sorted(members["triggers"], key=lambda c: c.cls),
            conditions=sorted(members["conditions"], key=lambda c: c.cls),
            categories=_categories(members),
            subGroup=package,
        )
        for package, members in sorted(groups.items())
    ]


def input_types() -> list[str]:
    """Every flow input type (`STRING`, `INT`, `FILE`, …)."""
    return sorted(INPUT_TYPES)


def documentation(type_name: str) -> Mapping[str, Any] | None:
    """`{markdown, schema}` of one type, as Kestra's plugin documentation answers."""
    schema = type_schema(type_name)
    if schema is None:
        return None
    canonical = TASKS.canonical(type_name) if TASKS.resolve(type_name) else type_name
    title = canonical.rsplit(".", 1)[1]
    description = schema.get("description") or ""
    return {"markdown": f"# {title}\n\n{description}\n", "schema": schema}


# -- building ---------------------------------------------------------------------------
def _class_schema(
    type_name: str, cls: type[msgspec.Struct], aliases: list[str] | None = None
) -> Schema:
    """msgspec's schema of the class, its `type` pinned to `type_name` (or one of the
    legacy `aliases` the loader still resolves), inlined definitions kept."""
    raw = msgspec.json.schema(cls)
    defs = raw.get("$defs", {})
    name = raw["$ref"].rsplit("/", 1)[1]
    schema = dict(defs.pop(name))
    properties = dict(schema.get("properties", {}))
    properties["type"] = {"enum": [type_name, *aliases]} if aliases else {"const": type_name}
    schema["properties"] = properties
    schema["title"] = type_name.rsplit(".", 1)[1]
    if defs:
        schema["$defs"] = defs
    return schema


def _one_of(classes: Mapping[str, type[msgspec.Struct]], aliases: Registry[Any]) -> Schema:
    """Any one of `classes`, chosen by `type`; shared definitions hoisted to the top."""
    defs: Schema = {}
    refs: list[Schema] = []
    for type_name, cls in sorted(classes.items()):
        schema = _class_schema(type_name, cls, aliases.aliases_of(type_name))
        for key, value in schema.pop("$defs", {}).items():
            defs.setdefault(key, value)
        key = type_name.replace(".", "_")
        defs[key] = schema
        refs.append({"$ref": f"#/$defs/{key}"})
    return {"oneOf": refs, "$defs": defs}


def _flow_schema() -> Schema:
    tasks = _one_of(task_types(), TASKS)
    triggers = _one_of(trigger_types(), TRIGGERS)
    raw = msgspec.json.schema(Flow)
    defs = {**raw.get("$defs", {}), **tasks["$defs"], **triggers["$defs"]}
    name = raw["$ref"].rsplit("/", 1)[1]
    flow = dict(defs.pop(name))
    properties = dict(flow.get("properties", {}))
    task_list = {"type": "array", "items": {"oneOf": tasks["oneOf"]}}
    for list_name in ("tasks", "errors", "finally", "afterExecution"):
        if list_name in properties:
            properties[list_name] = task_list
    if "triggers" in properties:
        properties["triggers"] = {"type": "array", "items": {"oneOf": triggers["oneOf"]}}
    if "pluginDefaults" in properties:  # the legacy name the loader still reads
        properties["taskDefaults"] = properties["pluginDefaults"]
    flow["properties"] = properties
    _input_id_or_name(defs)
    flow["$defs"] = defs
    return flow


def _input_id_or_name(defs: Schema) -> None:
    """An input is named by `id`, or by `name`, its deprecated alias the loader reads."""
    item = defs.get("Input")
    if item is None:
        return
    item["required"] = [r for r in item.get("required", []) if r != "id"]
    item["anyOf"] = [{"required": ["id"]}, {"required": ["name"]}]


def _plugin_default_schema() -> Schema:
    names = sorted([*task_types(), *trigger_types()])
    return {
        "type": "object",
        "properties": {
            "type": {"enum": names},
            "forced": {"type": "boolean", "default": False},
            "values": {"type": "object"},
        },
        "required": ["type", "values"],
    }


def _summary(cls: type) -> str:
    doc = (cls.__doc__ or "").strip()
    return doc.split("\n\n", 1)[0].replace("\n", " ")


def _categories(members: Mapping[str, list[PluginClass]]) -> list[str]:
    out = []
    if any(
        getattr(TASKS.resolve(c.cls), "kind", None) == TaskKind.FLOWABLE for c in members["tasks"]
    ):
        out.append("FLOW")
    if members["tasks"]:
        out.append("CORE")
    if members["triggers"]:
        out.append("TRIGGER")
    return out
