"""Maps trigger `type` strings (and their legacy aliases) to trigger classes."""

from __future__ import annotations

from collections.abc import Callable

from kestrad.triggers.base import Trigger

_TYPES: dict[str, type[Trigger]] = {}
_ALIASES: dict[str, str] = {}


def register_trigger(type_name: str, *aliases: str) -> Callable[[type[Trigger]], type[Trigger]]:
    """Class decorator binding a trigger class to its Kestra type name and aliases."""

    def decorate(cls: type[Trigger]) -> type[Trigger]:
        _TYPES[type_name] = cls
        cls.type_name = type_name
        for alias in aliases:
            _ALIASES[alias] = type_name
        return cls

    return decorate


def canonical_trigger_type(type_name: str) -> str:
    """The current Kestra name of a trigger type, resolving legacy aliases."""
    _ensure_loaded()
    return _ALIASES.get(type_name, type_name)


def resolve_trigger(type_name: str) -> type[Trigger] | None:
    """The class for a trigger type or alias, or None when no such trigger exists."""
    _ensure_loaded()
    return _TYPES.get(_ALIASES.get(type_name, type_name))


def all_trigger_types() -> dict[str, type[Trigger]]:
    """Every registered trigger type name → class (for error hints)."""
    _ensure_loaded()
    return dict(_TYPES)


_loaded = False


def _ensure_loaded() -> None:
    """Import the built-in trigger modules once, whatever the import order elsewhere."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from kestrad.triggers import flow, polling, schedule, webhook  # noqa: F401
