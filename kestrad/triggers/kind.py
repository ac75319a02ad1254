"""What the loader and the scheduler ask of a trigger kind.

A kind is one Kestra trigger type: its schema (a strict msgspec Struct), the load-time
checks of its raw mapping, and, for the kinds the scheduler fires (`Schedule`,
`ScheduleOnDates`, polling triggers), how their fire times are planned and what a due
trigger does. Each kind lives in one module of this package and registers one stateless
instance in `triggers.registry`; nothing outside asks "which class is this trigger?".

The scheduler keeps the mutable state (its `TriggerRow`s, in the store's types); a kind
only answers questions about instants, so everything here is pure: a due trigger's kind
returns a `Step` (fire this date, skip to that one, poll now) and the scheduler applies it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Protocol

import msgspec

from kestrad.expr.engine import Renderer
from kestrad.model.execution import Execution, Label
from kestrad.model.flow import Flow
from kestrad.model.records import NewLog
from kestrad.model.state import FAILED, now_iso
from kestrad.triggers.base import Trigger
from kestrad.triggers.fire_times import FirePlan

Recovery = Literal["ALL", "LAST", "NONE"]
# One load-time fault: the path below the trigger (`("cron",)`, `("dates", 2)`) and why.
Problem = tuple[tuple[str | int, ...], str]


# -- what a due trigger does ---------------------------------------------------------------------
# Steps are small frozen Structs: made once per fire, they must cost next to nothing (a
# NamedTuple costs three times as much to build).
class Fire(msgspec.Struct, frozen=True, gc=False):
    """Create the execution of fire time `date` (epoch seconds), between its neighbours."""

    date: float
    next: float
    previous: float


class Skip(msgspec.Struct, frozen=True, gc=False):
    """Too late to run `date`: move on to `next_fire_at` without an execution."""

    date: float
    next_fire_at: float


class Poll(msgspec.Struct, frozen=True, gc=False):
    """Evaluate the trigger as of `date`, away from the tick; again at `next_fire_at`."""

    date: float
    next_fire_at: float


Step = Fire | Skip | Poll | None


class Rendering(msgspec.Struct, frozen=True):
    """What building an execution needs to render inputs and labels."""

    renderer: Renderer
    secret_key: str | None = None


class Extra(msgspec.Struct, frozen=True):
    """Inputs and labels a backfill adds to each execution it replays."""

    inputs: Mapping[str, Any] | None = None
    labels: Mapping[str, str] | None = None


class Fired(msgspec.Struct, frozen=True):
    """What one fire produced: the execution (FAILED when it could not be built) and,
    for a failed one, the log line that says why."""

    execution: Execution
    log: NewLog | None = None


# -- the protocols -------------------------------------------------------------------------------
class TriggerKind(Protocol):
    """Every kind: its names, its schema, its load-time checks, and whether it is timed."""

    type_name: str
    aliases: tuple[str, ...]
    schema: type[Trigger]
    # True when the scheduler fires it and then waits for the execution it started to end
    # before firing again (its `triggers.execution_id` lock).
    locks: bool
    # True when a range of past fire times can be replayed (`backfill`).
    backfills: bool

    def validate(self, raw: Mapping[str, Any]) -> list[Problem]:
        """Faults of a raw trigger mapping that can be known without running anything."""
        ...

    def plan(self, trigger: Trigger) -> FirePlan | None:
        """Its fire times, None for kinds the scheduler does not fire. Raises CronError."""
        ...


class ScheduledKind(TriggerKind, Protocol):
    """A kind the scheduler fires: what a due trigger does and the execution it makes."""

    def recovery(self, trigger: Trigger) -> Recovery | None:
        """Its own `recoverMissedSchedules` (None: the scheduler's default)."""
        ...

    def due(
        self,
        trigger: Trigger,
        plan: FirePlan,
        next_fire_at: float,
        last_fire_at: float | None,
        now: float,
    ) -> Step:
        """What to do now that `next_fire_at` (≤ `now`) has come."""
        ...

    def replay(self, plan: FirePlan, date: float) -> Fire | None:
        """The fire of a past `date` a backfill replays (None: this kind does not backfill)."""
        ...

    def conditions(self, trigger: Trigger) -> list[Any]:
        """The conditions checked before each fire or poll (all must hold)."""
        ...

    def ready(
        self, flow: Flow, trigger: Trigger, plan: FirePlan, poll: Poll, renderer: Renderer
    ) -> bool:
        """Whether a `Poll` step may run (its conditions hold); raises when they cannot be
        evaluated."""
        ...

    def fire(
        self,
        flow: Flow,
        trigger: Trigger,
        plan: FirePlan,
        fire: Fire,
        rendering: Rendering,
        extra: Extra | None = None,
    ) -> Fired | None:
        """The execution of one fire; None when its conditions say no."""
        ...

    def polled(
        self, flow: Flow, trigger: Trigger, variables: dict[str, Any], rendering: Rendering
    ) -> Fired | None:
        """The execution of a poll that found something (`variables`)."""
        ...


class BaseKind:
    """Defaults for every kind: nothing to check, never fired by the scheduler."""

    type_name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    schema: ClassVar[type[Trigger]] = Trigger
    locks: ClassVar[bool] = False
    backfills: ClassVar[bool] = False

    def validate(self, raw: Mapping[str, Any]) -> list[Problem]:
        return []

    def plan(self, trigger: Trigger) -> FirePlan | None:
        return None

    def recovery(self, trigger: Trigger) -> Recovery | None:
        return getattr(trigger, "recover_missed_schedules", None)

    def due(
        self,
        trigger: Trigger,
        plan: FirePlan,
        next_fire_at: float,
        last_fire_at: float | None,
        now: float,
    ) -> Step:
        return None

    def replay(self, plan: FirePlan, date: float) -> Fire | None:
        return None

    def conditions(self, trigger: Trigger) -> list[Any]:
        return list(trigger.conditions or ())

    def ready(
        self, flow: Flow, trigger: Trigger, plan: FirePlan, poll: Poll, renderer: Renderer
    ) -> bool:
        return True

    def fire(
        self,
        flow: Flow,
        trigger: Trigger,
        plan: FirePlan,
        fire: Fire,
        rendering: Rendering,
        extra: Extra | None = None,
    ) -> Fired | None:
        return None

    def polled(
        self, flow: Flow, trigger: Trigger, variables: dict[str, Any], rendering: Rendering
    ) -> Fired | None:
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.type_name}>"


# -- helpers the kinds share ---------------------------------------------------------------------
def flow_labels(flow: Flow) -> dict[str, Any]:
    """The labels an execution inherits from its flow (`system.*` ones are not inherited)."""
    return {k: v for k, v in (flow.labels or {}).items() if not k.startswith("system.")}


def flow_context(flow: Flow) -> dict[str, Any]:
    """The `flow` variables of a trigger's expression context."""
    return {"id": flow.id, "namespace": flow.namespace, "revision": flow.revision}


def labelled(execution: Execution, labels: dict[str, Any]) -> Fired:
    """`execution` with `labels` (and its own correlation id, unless one was given; added
    to `labels`, which the caller built for this execution)."""
    labels.setdefault("system.correlationId", execution.id)
    execution.labels = [Label(key=k, value=str(v)) for k, v in labels.items()]
    return Fired(execution)


def failed(execution: Execution, trigger: Trigger, date: str | None, exc: Exception) -> Fired:
    """A fire that could not be evaluated: one FAILED execution and a log line saying why,
    once per fire time, never retried (retrying every tick would spam the same error)."""
    reason = f"trigger `{trigger.id}` could not be evaluated for {date}: {exc}"
    execution.labels = [Label(key="system.correlationId", value=execution.id)]
    execution.state.set(FAILED)
    return Fired(
        execution,
        NewLog(
            execution_id=execution.id,
            namespace=execution.namespace,
            flow_id=execution.flow_id,
            task_id=None,
            task_run_id=None,
            attempt=None,
            level="ERROR",
            timestamp=now_iso(),
            message=reason,
        ),
    )
