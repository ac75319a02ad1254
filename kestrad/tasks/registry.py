"""Task `type` strings (and their legacy aliases) → task classes: the `TASKS` registry.

Built-in task modules register with `@register(...)`; plugins add classes through the
`kestrad.tasks` entry-point group (see `tasks/plugins.py`). Lookups happen for every task
of every loaded flow, so they are dict hits; the built-ins and the plugins load at the
first lookup, so registration never depends on import order.
"""

from __future__ import annotations

from collections.abc import Callable

from kestrad.model.registry import Registry, stamp_type_name
from kestrad.tasks.base import Task

ENTRY_POINT_GROUP = "kestrad.tasks"


def _load_builtins() -> None:
    from kestrad.tasks import (  # noqa: F401
        approval,
        core_debug,
        core_execution,
        core_flow,
        core_log,
        core_output,
        for_each_item,
        http,
        kv,
        local_files,
        metric,
        namespace_tasks,
        scripts,
        state,
        storage_tasks,
        trigger_toggle,
    )


def _is_task_class(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, Task)


TASKS: Registry[type[Task]] = Registry(
    "Task",
    load=_load_builtins,
    stamp=stamp_type_name,
    entry_point_group=ENTRY_POINT_GROUP,
    accept=_is_task_class,
)


def register(type_name: str, *aliases: str) -> Callable[[type[Task]], type[Task]]:
    """Class decorator: `@register("io.kestra.plugin.core.log.Log", "io.kestra.core.tasks.log.Log")`."""
    return TASKS.register(type_name, *aliases)


def canonical_type(type_name: str) -> str:
    """The current Kestra name of a type, resolving legacy aliases."""
    return TASKS.canonical(type_name)


def resolve(type_name: str) -> type[Task] | None:
    """The class for a type name or alias, or None when no such task exists."""
    return TASKS.resolve(type_name)


def all_types() -> dict[str, type[Task]]:
    """Every registered type name → class (for `plugins list` and error hints)."""
    return TASKS.all()
