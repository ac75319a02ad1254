"""Task `type` strings (and their legacy aliases) → task classes: the `TASKS` registry.

Built-in task modules register with `@register(...)`; plugins add classes through the
`kestrad.tasks` entry-point group (see `tasks/plugins.py`). Lookups happen for every task
of every loaded flow, so they are dict hits; the plugins load at the first lookup, a
built-in module at the first lookup of one of its types, so registration never depends
on import order.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from kestrad.model.registry import Registry, stamp_type_name
from kestrad.tasks.base import Task

ENTRY_POINT_GROUP = "kestrad.tasks"


# Each built-in task module (under kestrad.tasks) → the type names and legacy aliases it
# registers, in the order a full load registers them. A lookup imports only the module of
# the name it asks for (a Log flow never imports the HTTP client or the script runners);
# tests/tasks/test_registry_index.py holds this table to what the modules register.
BUILTIN_TYPES: dict[str, tuple[str, ...]] = {
    "core_flow": (
        "io.kestra.plugin.core.flow.Sequential",
        "io.kestra.core.tasks.flows.Sequential",
        "io.kestra.plugin.core.flow.AllowFailure",
        "io.kestra.core.tasks.flows.AllowFailure",
        "io.kestra.plugin.core.flow.Parallel",
        "io.kestra.core.tasks.flows.Parallel",
        "io.kestra.plugin.core.flow.If",
        "io.kestra.core.tasks.flows.If",
        "io.kestra.plugin.core.flow.Switch",
        "io.kestra.core.tasks.flows.Switch",
        "io.kestra.plugin.core.flow.ForEach",
        "io.kestra.plugin.core.flow.EachSequential",
        "io.kestra.core.tasks.flows.EachSequential",
        "io.kestra.plugin.core.flow.EachParallel",
        "io.kestra.core.tasks.flows.EachParallel",
        "io.kestra.plugin.core.flow.Dag",
        "io.kestra.core.tasks.flows.Dag",
        "io.kestra.plugin.core.flow.Sleep",
        "io.kestra.plugin.core.flow.Pause",
        "io.kestra.core.tasks.flows.Pause",
        "io.kestra.plugin.core.flow.WaitFor",
        "io.kestra.plugin.core.flow.LoopUntil",
        "io.kestra.plugin.core.flow.Subflow",
        "io.kestra.core.tasks.flows.Subflow",
        "io.kestra.core.tasks.flows.Flow",
        "io.kestra.plugin.core.flow.Flow",
        "io.kestra.plugin.core.flow.WorkingDirectory",
        "io.kestra.core.tasks.flows.WorkingDirectory",
        "io.kestra.core.tasks.flows.Worker",
    ),
    "approval": ("io.kestra.plugin.core.flow.Approval",),
    "core_log": (
        "io.kestra.plugin.core.log.Log",
        "io.kestra.core.tasks.log.Log",
        "io.kestra.plugin.core.log.Fetch",
        "io.kestra.core.tasks.log.Fetch",
        "io.kestra.plugin.core.log.PurgeLogs",
    ),
    "core_debug": (
        "io.kestra.plugin.core.debug.Return",
        "io.kestra.core.tasks.debugs.Return",
        "io.kestra.plugin.core.debug.Echo",
        "io.kestra.core.tasks.debugs.Echo",
    ),
    "core_execution": (
        "io.kestra.plugin.core.execution.Fail",
        "io.kestra.core.tasks.executions.Fail",
        "io.kestra.plugin.core.execution.Assert",
        "io.kestra.plugin.core.execution.Labels",
        "io.kestra.core.tasks.executions.Labels",
        "io.kestra.plugin.core.execution.SetVariables",
        "io.kestra.plugin.core.execution.UnsetVariables",
        "io.kestra.plugin.core.execution.Kill",
        "io.kestra.plugin.core.execution.Exit",
        "io.kestra.plugin.core.execution.Count",
        "io.kestra.core.tasks.executions.Counts",
        "io.kestra.plugin.core.execution.PurgeExecutions",
        "io.kestra.core.tasks.storages.Purge",
        "io.kestra.plugin.core.storage.Purge",
        "io.kestra.plugin.core.execution.Resume",
        "io.kestra.core.tasks.executions.Resume",
    ),
    "core_output": ("io.kestra.plugin.core.output.OutputValues",),
    "storage_tasks": (
        "io.kestra.plugin.core.storage.Concat",
        "io.kestra.core.tasks.storages.Concat",
        "io.kestra.plugin.core.storage.Delete",
        "io.kestra.core.tasks.storages.Delete",
        "io.kestra.plugin.core.storage.Size",
        "io.kestra.core.tasks.storages.Size",
        "io.kestra.plugin.core.storage.Split",
        "io.kestra.core.tasks.storages.Split",
        "io.kestra.plugin.core.storage.FilterItems",
        "io.kestra.core.tasks.storages.FilterItems",
        "io.kestra.plugin.core.storage.DeduplicateItems",
        "io.kestra.core.tasks.storages.DeduplicateItems",
        "io.kestra.plugin.core.storage.Write",
        "io.kestra.plugin.core.storage.Reverse",
        "io.kestra.core.tasks.storages.Reverse",
        "io.kestra.plugin.core.storage.PurgeCurrentExecutionFiles",
        "io.kestra.plugin.core.storage.PurgeExecution",
        "io.kestra.core.tasks.storages.PurgeExecution",
    ),
    "for_each_item": (
        "io.kestra.plugin.core.flow.ForEachItem",
        "io.kestra.core.tasks.flows.ForEachItem",
    ),
    "http": (
        "io.kestra.plugin.core.http.Request",
        "io.kestra.plugin.fs.http.Request",
        "io.kestra.plugin.core.http.Download",
        "io.kestra.plugin.fs.http.Download",
    ),
    "kv": (
        "io.kestra.plugin.core.kv.Set",
        "io.kestra.core.tasks.kv.Set",
        "io.kestra.plugin.core.kv.Get",
        "io.kestra.core.tasks.kv.Get",
        "io.kestra.plugin.core.kv.Delete",
        "io.kestra.core.tasks.kv.Delete",
        "io.kestra.plugin.core.kv.GetKeys",
        "io.kestra.core.tasks.kv.GetKeys",
    ),
    "local_files": (
        "io.kestra.plugin.core.storage.LocalFiles",
        "io.kestra.core.tasks.storages.LocalFiles",
    ),
    "metric": ("io.kestra.plugin.core.metric.Publish",),
    "namespace_tasks": (
        "io.kestra.plugin.core.namespace.UploadFiles",
        "io.kestra.plugin.core.namespace.DownloadFiles",
        "io.kestra.plugin.core.namespace.DeleteFiles",
    ),
    "scripts": (
        "io.kestra.plugin.scripts.shell.Commands",
        "io.kestra.plugin.scripts.shell.Script",
        "io.kestra.plugin.scripts.python.Commands",
        "io.kestra.plugin.scripts.python.Script",
    ),
    "state": (
        "io.kestra.plugin.core.state.Get",
        "io.kestra.core.tasks.states.Get",
        "io.kestra.plugin.core.state.Set",
        "io.kestra.core.tasks.states.Set",
        "io.kestra.plugin.core.state.Delete",
        "io.kestra.core.tasks.states.Delete",
    ),
    "trigger_toggle": (
        "io.kestra.plugin.core.trigger.Toggle",
        "io.kestra.core.tasks.trigger.Toggle",
    ),
}


def _load_builtins() -> None:
    for module in BUILTIN_TYPES:
        importlib.import_module(f"kestrad.tasks.{module}")


def _is_task_class(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, Task)


TASKS: Registry[type[Task]] = Registry(
    "Task",
    load=_load_builtins,
    stamp=stamp_type_name,
    entry_point_group=ENTRY_POINT_GROUP,
    accept=_is_task_class,
    builtins={
        name: f"kestrad.tasks.{module}" for module, names in BUILTIN_TYPES.items() for name in names
    },
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
