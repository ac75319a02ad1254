"""Walking a tree of tasks without knowing every task class.

Flowable tasks keep their children in three shapes, declared by class variables:
`child_fields` (plain task lists), `child_maps` (name → task list, e.g. Switch.cases) and
`dag_fields` (lists of `{task, dependsOn}` nodes). The loader, the flow index and the
executor all need the same walk, so it lives here, in one place, with no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

import msgspec

# Attribute names every flowable may hold children under, even when a class forgets to list
# them in `child_fields` (FlowableTask declares both).
_ALWAYS = ("errors", "finally_")


@cache
def child_attrs(cls: type) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(list attrs, map attrs, dag attrs) of a task class, deduplicated, in walk order."""
    fields = {f.name for f in msgspec.structs.fields(cls)} if _is_struct(cls) else set()
    lists = list(getattr(cls, "child_fields", ()))
    for name in _ALWAYS:
        if name in fields and name not in lists:
            lists.append(name)
    maps = tuple(getattr(cls, "child_maps", ()))
    dags = tuple(getattr(cls, "dag_fields", ()))
    return tuple(lists), maps, dags


@cache
def encode_names(cls: type) -> dict[str, str]:
    """Python attribute name → YAML/JSON property name for a Struct class."""
    if not _is_struct(cls):
        return {}
    return {f.name: f.encode_name for f in msgspec.structs.fields(cls)}


def dag_node_task(node: Any) -> Any:
    """The task of one Dag node, whether the node is a Struct or still a mapping."""
    if isinstance(node, dict):
        return node.get("task")
    return getattr(node, "task", None)


def iter_children(task: Any) -> Iterator[tuple[str, list[Any]]]:
    """Every (label, child list) of a task; labels look like `then`, `cases.a`, `tasks`."""
    cls = type(task)
    lists, maps, dags = child_attrs(cls)
    names = encode_names(cls)
    for attr in lists:
        value = getattr(task, attr, None)
        if value:
            yield names.get(attr, attr), value
    for attr in maps:
        value = getattr(task, attr, None)
        if value:
            for key, children in value.items():
                if children:
                    yield f"{names.get(attr, attr)}.{key}", children
    for attr in dags:
        value = getattr(task, attr, None)
        if value:
            tasks = [t for t in (dag_node_task(node) for node in value) if t is not None]
            if tasks:
                yield names.get(attr, attr), tasks


def walk(tasks: list[Any] | None) -> Iterator[tuple[Any, Any | None]]:
    """Depth-first (task, parent) pairs, parents before their children."""
    stack: list[tuple[Any, Any | None]] = [(t, None) for t in reversed(tasks or [])]
    while stack:
        task, parent = stack.pop()
        yield task, parent
        children: list[tuple[Any, Any]] = []
        for _, child_list in iter_children(task):
            children.extend((child, task) for child in child_list)
        stack.extend(reversed(children))


def _is_struct(cls: type) -> bool:
    return isinstance(cls, type) and issubclass(cls, msgspec.Struct)
