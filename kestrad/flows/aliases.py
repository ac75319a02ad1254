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
