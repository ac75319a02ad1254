"""Maps Kestra `type` strings (and their legacy aliases) to task classes.

Lookups happen for every task of every loaded flow, so they are a dict hit; aliases are
expanded once at registration.
"""

from __future__ import annotations

from kestrad.tasks.base import Task

_TYPES: dict[str, type[Task]] = {}
_ALIASES: dict[str, str] = {}


def register(type_name: str, *aliases: str):
    """Class decorator: `@register("io.kestra.plugin.core.log.Log", "io.kestra.core.tasks.log.Log")`."""

    def decorate(cls: type[Task]) -> type[Task]:
        _TYPES[type_name] = cls
        cls.type_name = type_name  # type: ignore[attr-defined]
        for alias in aliases:
            _ALIASES[alias] = type_name
        return cls

    return decorate


def canonical_type(type_name: str) -> str:
    """The current Kestra name of a type, resolving legacy aliases."""
    _ensure_loaded()
    return _ALIASES.get(type_name, type_name)


def resolve(type_name: str) -> type[Task] | None:
    """The class for a type name or alias, or None when no such task exists."""
    _ensure_loaded()
    return _TYPES.get(_ALIASES.get(type_name, type_name))


def all_types() -> dict[str, type[Task]]:
    """Every registered type name → class (for `plugins list` and error hints)."""
    _ensure_loaded()
    return dict(_TYPES)


_loaded = False


def _ensure_loaded() -> None:
    """Import the built-in task modules once, so registration never depends on import order."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from kestrad.tasks import (  # noqa: F401  # noqa: F401
        core_debug,
        core_execution,
        core_flow,
        core_log,
        core_output,
        http,
        kv,
        local_files,
        scripts,
        storage_tasks,
        trigger_toggle,
    )
    from kestrad.tasks.plugins import load_plugins

    load_plugins()
