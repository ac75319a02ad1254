"""Trigger `type` strings (and their legacy aliases) → trigger kinds: the `TRIGGERS` registry.

Each kind module registers one kind object (see `triggers/kind.py`); the loader asks for
its schema, the scheduler for its plan and its steps. Built-in kinds load at the first
lookup, whatever the import order elsewhere.
"""

from __future__ import annotations

from typing import TypeVar

from kestrad.model.registry import Registry
from kestrad.triggers.base import Trigger
from kestrad.triggers.fire_times import FirePlan
from kestrad.triggers.kind import TriggerKind

K = TypeVar("K", bound=TriggerKind)


def _load_builtins() -> None:
    from kestrad.triggers import (  # noqa: F401
        flow,
        polling,
        schedule,
        schedule_on_dates,
        webhook,
    )


# Schema class → kind, filled as kinds register: a loaded trigger's kind in one dict hit
# (the scheduler asks it for every trigger of every flow at start).
_BY_SCHEMA: dict[type, TriggerKind] = {}


def _stamp(kind: TriggerKind, type_name: str) -> None:
    kind.schema.type_name = type_name
    _BY_SCHEMA[kind.schema] = kind


TRIGGERS: Registry[TriggerKind] = Registry("trigger", load=_load_builtins, stamp=_stamp)


def register_kind(kind: K) -> K:
    """Register a kind under its `type_name` and `aliases`."""
    TRIGGERS.add(kind.type_name, kind, *kind.aliases)
    return kind


def kind_named(type_name: str) -> TriggerKind | None:
    """The kind of a type name or alias, or None when no such trigger exists."""
    return TRIGGERS.resolve(type_name)


def kind_of(trigger: Trigger) -> TriggerKind | None:
    """The kind of a loaded trigger: that of its class (registered with it), else that of
    its `type`."""
    return _BY_SCHEMA.get(type(trigger)) or TRIGGERS.resolve(trigger.type)


def canonical_trigger_type(type_name: str) -> str:
    """The current Kestra name of a trigger type, resolving legacy aliases."""
    return TRIGGERS.canonical(type_name)


def resolve_trigger(type_name: str) -> type[Trigger] | None:
    """The schema class of a trigger type or alias, or None when no such trigger exists."""
    kind = TRIGGERS.resolve(type_name)
    return kind.schema if kind is not None else None


def all_trigger_types() -> dict[str, type[Trigger]]:
    """Every registered trigger type name → schema class (for error hints)."""
    return {name: kind.schema for name, kind in TRIGGERS.all().items()}


def plan_for(trigger: Trigger) -> FirePlan | None:
    """The fire plan of a timed or polling trigger; None for other kinds. Raises CronError."""
    kind = kind_of(trigger)
    return kind.plan(trigger) if kind is not None else None
