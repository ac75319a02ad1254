"""Checks particular to one task type (Kestra's per-task validators), run at load time.

Each rule reads the task's raw mapping, so it works whether or not the task's own
properties were valid, and reports through the shared `Report`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kestrad.flows.problems import PathKey
from kestrad.flows.report import Report
from kestrad.tasks.base import TaskKind

_FLOW = "io.kestra.plugin.core.flow."
DOCKER_RUNNER = "io.kestra.plugin.scripts.runner.docker.Docker"
PROCESS_RUNNER = "io.kestra.plugin.core.runner.Process"

Rule = Callable[[Report, dict[str, Any], PathKey, "RuleContext"], None]


class RuleContext:
    """What a rule may need beyond the task itself: its flow's identity, class lookups."""

    def __init__(self, namespace: Any, flow_id: Any, resolve: Callable[[str], type | None]) -> None:
        self.namespace = namespace
        self.flow_id = flow_id
        self.resolve = resolve


def check_task(
    report: Report, type_name: str, raw: dict[str, Any], path: PathKey, ctx: RuleContext
) -> None:
    """Run the rules of `type_name` and the rules every task shares."""
    for rule in _RULES.get(type_name, ()):
        rule(report, raw, path, ctx)
    _task_runner(report, raw, path)


def _non_empty(key: str) -> Rule:
    def rule(report: Report, raw: dict[str, Any], path: PathKey, ctx: RuleContext) -> None:
        if key not in raw:
            report.add(path, f"missing required property `{key}`")
        elif not raw[key]:
            report.add((*path, key), f"`{key}` must not be empty")

    return rule


def _switch(report: Report, raw: dict[str, Any], path: PathKey, ctx: RuleContext) -> None:
    cases = raw.get("cases")
    has_case = isinstance(cases, dict) and any(bool(v) for v in cases.values())
    if not has_case and not raw.get("defaults"):
        report.add(path, "no task defined: neither `cases` nor `defaults` have any tasks")


def _dag(report: Report, raw: dict[str, Any], path: PathKey, ctx: RuleContext) -> None:
    nodes = raw.get("tasks")
    if not isinstance(nodes, list):
        return
    entries: list[tuple[int, str, list[Any]]] = []
    for i, node in enumerate(nodes):
        task = node.get("task") if isinstance(node, dict) else None
        task_id = task.get("id") if isinstance(task, dict) else None
        if isinstance(task_id, str):
            depends = node.get("dependsOn")
            entries.append((i, task_id, depends if isinstance(depends, list) else []))
    known = {task_id for _, task_id, _ in entries}
    graph: dict[str, list[str]] = {}
    for i, task_id, depends in entries:
        graph[task_id] = [d for d in depends if isinstance(d, str)]
        for j, dep in enumerate(depends):
            if dep not in known:
                report.add(
                    (*path, "tasks", i, "dependsOn", j), f"unknown task id in dependency: `{dep}`"
                )
    cycle = find_cycle(graph)
    if cycle:
        report.add((*path, "tasks"), f"cyclic dependency detected: {', '.join(cycle)}")


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """The nodes of one cycle of `graph` (id → ids it depends on), or None if acyclic."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in graph.get(node, ()):
            if dep not in graph:
                continue
            if state.get(dep) == 1:
                return stack[stack.index(dep) :]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _working_directory(
    report: Report, raw: dict[str, Any], path: PathKey, ctx: RuleContext
) -> None:

    children = raw.get("tasks")
    if not isinstance(children, list):
        return
    for i, child in enumerate(children):
        if not isinstance(child, dict) or not isinstance(child.get("type"), str):
            continue
        cls = ctx.resolve(child["type"])
        if cls is not None and getattr(cls, "kind", TaskKind.RUNNABLE) is not TaskKind.RUNNABLE:
            report.add(
                (*path, "tasks", i),
                f"only runnable tasks can run inside a WorkingDirectory, `{child['type']}` is not",
            )


def _no_recursion(report: Report, raw: dict[str, Any], path: PathKey, ctx: RuleContext) -> None:
    if raw.get("namespace") == ctx.namespace and raw.get("flowId") == ctx.flow_id:
        report.add(path, f"recursive call to flow [{ctx.namespace}.{ctx.flow_id}]")


def _task_runner(report: Report, raw: dict[str, Any], path: PathKey) -> None:
    """Script tasks may only use the local process runner: containers are not supported."""
    runner = raw.get("taskRunner")
    if isinstance(runner, dict) and runner.get("type") == DOCKER_RUNNER:
        report.add(
            (*path, "taskRunner", "type"),
            f"the Docker task runner is not supported, use `{PROCESS_RUNNER}`",
        )
    if raw.get("runner") == "DOCKER":
        report.add((*path, "runner"), "the DOCKER runner is not supported, use PROCESS")


# Kestra types that exist but are not supported here, with what to do instead.
_TEMPLATE = (
    "`Template` is deprecated in Kestra and not supported: copy the template's tasks into "
    "the flow, or call another flow with `io.kestra.plugin.core.flow.Subflow`"
)
_CORE = "io.kestra.plugin.core."
_PURGE = (
    "is not supported here: `io.kestra.plugin.core.execution.PurgeExecutions` purges ended "
    "executions with their logs and files, `io.kestra.plugin.core.log.PurgeLogs` purges logs"
)
REFUSED_TYPES: dict[str, str] = {
    _FLOW + "Template": _TEMPLATE,
    "io.kestra.core.tasks.flows.Template": _TEMPLATE,
    _CORE + "storage.Purge": f"`storage.Purge` {_PURGE}",
    _CORE + "storage.PurgeExecution": f"`storage.PurgeExecution` {_PURGE}",
    _CORE + "storage.PurgeInternalStorage": f"`storage.PurgeInternalStorage` {_PURGE}",
    _CORE + "storage.PurgeStorage": f"`storage.PurgeStorage` {_PURGE}",
    _CORE + "kv.PurgeKV": (
        "`kv.PurgeKV` is not supported here: delete keys with `io.kestra.plugin.core.kv.Delete`"
        " (expired keys are already dropped when read)"
    ),
    _CORE + "namespace.PurgeFiles": (
        "`namespace.PurgeFiles` is not supported here: delete namespace files with "
        "`io.kestra.plugin.core.namespace.DeleteFiles`"
    ),
    _CORE + "templating.TemplatedTask": (
        "`templating.TemplatedTask` is not supported: a task whose YAML is rendered at run "
        "time would escape every check made when the flow loads"
    ),
    _FLOW + "Loop": (
        "`flow.Loop` is not in Kestra 1.x and not supported: use "
        "`io.kestra.plugin.core.flow.ForEach` or `io.kestra.plugin.core.flow.LoopUntil`"
    ),
    _FLOW + "Wait": (
        "`flow.Wait` is not in Kestra 1.x and not supported: use "
        "`io.kestra.plugin.core.flow.Sleep` or `io.kestra.plugin.core.flow.WaitFor`"
    ),
}

_RULES: dict[str, tuple[Rule, ...]] = {
    _FLOW + "Switch": (_switch,),
    _FLOW + "Dag": (_dag,),
    _FLOW + "Parallel": (_non_empty("tasks"),),
    _FLOW + "WorkingDirectory": (_non_empty("tasks"), _working_directory),
    _FLOW + "Subflow": (_no_recursion,),
    _FLOW + "ForEachItem": (_no_recursion,),
}
