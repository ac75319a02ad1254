"""What the time-based kinds (`Schedule`, `ScheduleOnDates`) share: firing on a plan.

A due timed trigger fires its `next_fire_at` with the fire times around it as the
execution's `trigger.date`, `trigger.next` and `trigger.previous`; a backfill replays
past fire times the same way. The execution is built here, without I/O: conditions,
inputs and labels are rendered only when the trigger has some (most schedules have none).
"""

from __future__ import annotations

from typing import Any, ClassVar

from kestrad.model.execution import Execution, ExecutionTrigger
from kestrad.model.flow import Flow
from kestrad.model.inputs import resolve_inputs
from kestrad.triggers.base import Trigger
from kestrad.triggers.evaluate import conditions_hold
from kestrad.triggers.fire_times import FirePlan
from kestrad.triggers.kind import (
    BaseKind,
    Extra,
    Fire,
    Fired,
    Rendering,
    Step,
    failed,
    flow_context,
    flow_labels,
    labelled,
)


class TimedKind(BaseKind):
    """A kind that fires on its plan's instants, one execution at a time."""

    locks: ClassVar[bool] = True
    backfills: ClassVar[bool] = True

    def due(
        self,
        trigger: Trigger,
        plan: FirePlan,
        next_fire_at: float,
        last_fire_at: float | None,
        now: float,
    ) -> Step:
        return fire_step(plan, next_fire_at, last_fire_at)

    def replay(self, plan: FirePlan, date: float) -> Fire | None:
        return Fire(date, plan.next_after(date), plan.previous_before(date))

    def fire(
        self,
        flow: Flow,
        trigger: Trigger,
        plan: FirePlan,
        fire: Fire,
        rendering: Rendering,
        extra: Extra | None = None,
    ) -> Fired | None:
        """The execution of one fire (None when conditions say no); FAILED, with a log line
        saying why, when its conditions, inputs or labels cannot be evaluated."""
        variables = {
            "date": plan.iso(fire.date),
            "next": plan.iso(fire.next),
            "previous": plan.iso(fire.previous),
        }
        origin = ExecutionTrigger(id=trigger.id, type=trigger.type, variables=variables)
        execution = Execution.new(
            namespace=flow.namespace,
            flow_id=flow.id,
            flow_revision=flow.revision or 1,
            trigger=origin,
        )
        conditions = self.conditions(trigger)
        raw = trigger.inputs
        if extra is not None and extra.inputs:
            raw = {**(raw or {}), **extra.inputs}
        labels = flow_labels(flow)
        renderer = rendering.renderer
        try:
            context: dict[str, Any] | None = None
            if conditions or raw or trigger.labels:
                context = {
                    "trigger": variables,
                    "schedule": variables,
                    "flow": flow_context(flow),
                    "labels": dict(flow.labels or {}),
                }
            if conditions and not conditions_hold(conditions, context or {}, renderer):
                return None
            if raw or flow.inputs:
                rendered = renderer.render_value_typed(dict(raw), context) if raw else {}
                execution.inputs = resolve_inputs(
                    flow, rendered, renderer=renderer, secret_key=rendering.secret_key
                )
            if trigger.labels:
                labels.update(renderer.render_value(dict(trigger.labels), context))
            if extra is not None:
                labels.update(extra.labels or {})
        except Exception as exc:
            return failed(execution, trigger, plan.iso(fire.date), exc)
        return labelled(execution, labels)


def fire_step(plan: FirePlan, date: float, last_fire_at: float | None) -> Fire:
    """Fire `date`: its `previous` is the last fire when it was the one right before (a
    cron's previous time costs a search), else the plan's."""
    previous = last_fire_at
    if previous is None or previous >= date:
        previous = plan.previous_before(date)
    return Fire(date, plan.next_after(date), previous)
