"""`io.kestra.plugin.core.trigger.Flow`: fires when executions of other flows change state."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import msgspec

from kestrad.triggers.base import State, Trigger
from kestrad.triggers.kind import BaseKind
from kestrad.triggers.registry import register_kind


class _Strict(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    pass


class UpstreamFlow(_Strict):
    """One upstream flow a precondition waits for."""

    namespace: str
    flow_id: str | None = None
    states: list[State] | None = None
    labels: dict[str, Any] | None = None


class Filter(_Strict):
    """One filter of a `where` clause."""

    field: Literal["FLOW_ID", "NAMESPACE", "STATE", "EXPRESSION"]
    type: Literal[
        "EQUAL_TO",
        "NOT_EQUAL_TO",
        "IN",
        "NOT_IN",
        "IS_TRUE",
        "IS_FALSE",
        "IS_NULL",
        "IS_NOT_NULL",
        "STARTS_WITH",
        "ENDS_WITH",
        "REGEX",
        "CONTAINS",
    ]
    value: str | None = None
    values: list[str] | None = None


class Where(_Strict):
    """A named group of filters on upstream executions."""

    id: str
    filters: list[Filter]
    operand: Literal["AND", "OR"] = "AND"


class TimeWindow(_Strict):
    """The window within which every precondition must be met."""

    type: Literal[
        "DURATION_WINDOW", "SLIDING_WINDOW", "DAILY_TIME_DEADLINE", "DAILY_TIME_WINDOW"
    ] = "DURATION_WINDOW"
    window: str | None = None
    window_advance: str | None = None
    deadline: str | None = None
    start_time: str | None = None
    end_time: str | None = None


class Preconditions(_Strict):
    """Upstream flows (and filters) that must all be satisfied inside the time window."""

    id: str | None = None
    flows: list[UpstreamFlow] | None = None
    where: list[Where] | None = None
    time_window: TimeWindow | None = None
    reset_on_success: bool = True


class FlowTrigger(Trigger, kw_only=True):
    """Evaluated by the executor on every execution end of other flows."""

    states: list[State] | None = None
    preconditions: Preconditions | None = None


class FlowKind(BaseKind):
    type_name: ClassVar[str] = "io.kestra.plugin.core.trigger.Flow"
    aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.models.triggers.types.Flow",)
    schema: ClassVar[type[Trigger]] = FlowTrigger


FLOW = register_kind(FlowKind())
