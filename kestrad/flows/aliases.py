"""Legacy Kestra type names (KESTRA-SPEC §2.9) → current names, by rule.

Task classes register their own aliases; these rules are the safety net for the legacy
package layout as a whole (`io.kestra.core.tasks.<pkg>.<Name>`, `io.kestra.plugin.fs.http.*`),
so a task class that forgot an alias still loads old flows.
"""

from __future__ import annotations

_CORE_TASKS = "io.kestra.core.tasks."
_FS_HTTP = "io.kestra.plugin.fs.http."

# Legacy package → current package under io.kestra.plugin.core.
_PACKAGES = {
    "log": "log",
    "debugs": "debug",
    "executions": "execution",
    "flows": "flow",
    "states": "state",
    "storages": "storage",
    "templating": "templating",
    "trigger": "trigger",
    "outputs": "output",
    "kv": "kv",
    "namespace": "namespace",
}
# Classes renamed on the way.
_RENAMED = {
    "flow.Flow": "flow.Subflow",
    "flow.Worker": "flow.WorkingDirectory",
    "execution.Counts": "execution.Count",
}


def legacy_task_type(type_name: str) -> str | None:
    """The current name for a legacy task type, or None when no rule applies."""
    if type_name.startswith(_FS_HTTP):
        return "io.kestra.plugin.core.http." + type_name[len(_FS_HTTP) :]
    if not type_name.startswith(_CORE_TASKS):
        return None
    rest = type_name[len(_CORE_TASKS) :]
    package, _, name = rest.partition(".")
    current = _PACKAGES.get(package)
    if current is None or not name or "." in name:
        return None
    short = f"{current}.{name}"
    return "io.kestra.plugin.core." + _RENAMED.get(short, short)


# Types Kestra still runs but marks deprecated, with what to use instead (a load warning).
DEPRECATED_TYPES: dict[str, str] = {
    "io.kestra.plugin.core.flow.EachSequential": "use `io.kestra.plugin.core.flow.ForEach`",
    "io.kestra.plugin.core.flow.EachParallel": (
        "use `io.kestra.plugin.core.flow.ForEach` with `concurrencyLimit`"
    ),
    "io.kestra.plugin.core.flow.AllowFailure": "use the task property `allowFailure: true`",
    "io.kestra.plugin.core.debug.Echo": "use `io.kestra.plugin.core.log.Log`",
    "io.kestra.plugin.core.storage.LocalFiles": (
        "use `inputFiles`/`outputFiles` of a script task or a WorkingDirectory"
    ),
}


def type_notices(written: str, canonical: str) -> list[str]:
    """What to tell about a type name as written: renamed, deprecated, or nothing."""
    out: list[str] = []
    if written != canonical:
        out.append(f"`{written}` is replaced by `{canonical}`")
    advice = DEPRECATED_TYPES.get(canonical)
    if advice is not None:
        out.append(f"`{canonical}` is deprecated: {advice}")
    return out


# Properties Kestra still reads but has replaced: (where, name) → what to write instead.
# `where` is "task", "flow", "input", "trigger" or "retry" (a `retry` block anywhere).
DEPRECATED_PROPERTIES: dict[tuple[str, str], str] = {
    ("retry", "maxAttempt"): "`maxAttempt` is replaced by `maxAttempts`",
    ("flow", "listeners"): "`listeners` are deprecated: use `afterExecution` or a Flow trigger",
    ("input", "name"): "`name` is replaced by `id`",
    ("input", "options"): "`options` is replaced by `values`",
    ("trigger", "scheduleConditions"): "`scheduleConditions` is replaced by `conditions`",
    ("task", "runner"): "`runner` is deprecated: use `taskRunner`",
    ("task", "docker"): "`docker` is deprecated: use `taskRunner`",
}


def property_notices(where: str, raw: object) -> list[tuple[str, str]]:
    """(property, notice) for each deprecated property of a mapping (and of its `retry`)."""
    if not isinstance(raw, dict):
        return []
    out = [
        (key, DEPRECATED_PROPERTIES[(where, key)])
        for key in raw
        if (where, key) in DEPRECATED_PROPERTIES
    ]
    retry = raw.get("retry")
    if where in ("task", "flow") and isinstance(retry, dict):
        out += [
            (f"retry.{key}", DEPRECATED_PROPERTIES[("retry", key)])
            for key in retry
            if ("retry", key) in DEPRECATED_PROPERTIES
        ]
    return out
