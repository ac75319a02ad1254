"""Task plugins: task classes other packages register under the entry-point group
`kestrad.tasks`, and the property listing `kestrad plugins list` prints.

An entry point's *name* is the task `type` flows use, its *value* the class:

    [project.entry-points."kestrad.tasks"]
    "com.example.Hello" = "kestrad_hello:Hello"

The class must subclass `kestrad.tasks.base.RunnableTask` (or another Task). Plugins load
once, with the built-in tasks, the first time any task type is looked up; a plugin that
fails to import is logged and skipped so one broken package cannot stop the daemon.
"""

from __future__ import annotations

from typing import Any

import msgspec

from kestrad.tasks.base import Task
from kestrad.tasks.registry import ENTRY_POINT_GROUP, TASKS

__all__ = ["ENTRY_POINT_GROUP", "Property", "load_plugins", "origins", "problems", "properties"]

# type name -> why its entry point could not be registered (shown by `plugins list`).
problems: dict[str, str] = TASKS.problems
# type name -> distribution that provided it.
origins: dict[str, str] = TASKS.origins


def load_plugins() -> int:
    """Register every `kestrad.tasks` entry point; returns how many were registered."""
    return TASKS.load_entry_points()


class Property(msgspec.Struct, kw_only=True, frozen=True):
    """One property of a task type, as flows spell it."""

    name: str
    type: str
    required: bool
    default: Any = None


# Properties every task has (KESTRA-SPEC §2.1), left out of per-type listings.
COMMON = frozenset(f.encode_name for f in msgspec.structs.fields(Task))


def properties(cls: type[Task]) -> list[Property]:
    """The properties of a task class (msgspec fields), without the common ones."""
    out = []
    for field in msgspec.structs.fields(cls):
        if field.encode_name in COMMON:
            continue
        required = field.required
        default = None
        if field.default is not msgspec.NODEFAULT:
            default = field.default
        elif field.default_factory is not msgspec.NODEFAULT:
            default = field.default_factory()
        out.append(
            Property(
                name=field.encode_name,
                type=_type_name(field.type),
                required=required,
                default=default,
            )
        )
    return out


def _type_name(annotation: Any) -> str:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    text = text.replace("typing.", "")
    if isinstance(annotation, type):
        text = annotation.__name__
    return text
