"""`pluginDefaults`: default property values injected into every plugin of a flow tree.

Applied to the raw mapping before validation, as Kestra does, so a default can supply a
required property. A default matches a mapping whose `type` equals or starts with the
default's `type` (prefix match: `io.kestra.plugin.core.log` covers every log task).
Non-forced defaults lose against the element's own values; forced ones win. With several
matching defaults, the flow's come before the global ones and the earlier wins.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kestrad.model.flow import PluginDefault

DEFAULTS_KEYS = ("pluginDefaults", "taskDefaults")


def apply_plugin_defaults(
    flow: dict[str, Any],
    defaults: Sequence[PluginDefault],
    canonical: Callable[[str], str],
) -> dict[str, Any]:
    """A copy of `flow` with `defaults` merged into every mapping that has a `type`.

    `canonical` maps a type name to its current name, so a default written with a legacy
    alias and an element written with the other spelling still meet.
    """
    if not defaults:
        return flow
    normal = [d for d in defaults if not d.forced]
    # Forced defaults are applied last-first so that the earliest ends up on top.
    forced = [d for d in reversed(defaults) if d.forced]
    prefixes = [(d, _spellings(d.type, canonical)) for d in (*normal, *forced)]
    out: dict[str, Any] = {}
    for key, value in flow.items():
        out[key] = value if key in DEFAULTS_KEYS else _walk(value, prefixes, canonical)
    return out


def _spellings(type_name: str, canonical: Callable[[str], str]) -> tuple[str, ...]:
    current = canonical(type_name)
    return (type_name,) if current == type_name else (type_name, current)


def _walk(
    value: Any,
    prefixes: list[tuple[PluginDefault, tuple[str, ...]]],
    canonical: Callable[[str], str],
) -> Any:
    if isinstance(value, list):
        return [_walk(item, prefixes, canonical) for item in value]
    if not isinstance(value, dict):
        return value
    result = {key: _walk(item, prefixes, canonical) for key, item in value.items()}
    type_name = result.get("type")
    if not isinstance(type_name, str):
        return result
    names = _spellings(type_name, canonical)
    for default, spellings in prefixes:
        if any(name.startswith(prefix) for name in names for prefix in spellings):
            if default.forced:
                result = deep_merge(result, default.values)
            else:
                result = deep_merge(default.values, result)
    return result


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """`base` overlaid with `top`: maps merge recursively, lists concatenate without repeats,
    a null in `top` keeps `base`'s value, anything else in `top` wins (Kestra's MapUtils)."""
    result = dict(base)
    for key, value in top.items():
        current = result.get(key)
        if value is None:
            result.setdefault(key, None)
        elif current is None:
            result[key] = value
        elif isinstance(current, dict) and isinstance(value, dict):
            result[key] = deep_merge(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            result[key] = current + [item for item in value if item not in current]
        else:
            result[key] = value
    return result
