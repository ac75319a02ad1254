"""Polling triggers: `io.kestra.plugin.core.http.Trigger` checks a URL every `interval`.

The scheduler evaluates a polling trigger every `interval` after the previous evaluation,
away from its tick (a poll may take seconds): a due trigger's step is a `Poll`, handed to
the poller (`runtime/polling.py`), whose evaluator for the kind does the I/O
(`runtime/http_trigger.py`). An evaluation that found something comes back as trigger
variables, and the execution is built here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from kestrad.expr.engine import Renderer
from kestrad.model.execution import Execution, ExecutionTrigger
from kestrad.model.flow import Flow
from kestrad.model.inputs import resolve_inputs
from kestrad.model.state import now_iso
from kestrad.triggers.base import Trigger
from kestrad.triggers.checks import duration_problems
from kestrad.triggers.evaluate import conditions_hold
from kestrad.triggers.fire_times import FirePlan, IntervalPlan
from kestrad.triggers.kind import (
    BaseKind,
    Fired,
    Poll,
    Problem,
    Rendering,
    Step,
    failed,
    flow_context,
    flow_labels,
    labelled,
)
from kestrad.triggers.registry import register_kind


class PollingTrigger(Trigger, kw_only=True):
    """A trigger the scheduler has evaluated every `interval`, away from its tick (a poll
    may take seconds); an evaluation that finds something creates one execution."""

    interval: str = "PT60S"


class HttpTrigger(PollingTrigger, kw_only=True):
    """Fires when the response to `uri` satisfies `responseCondition`."""

    uri: str
    method: str = "GET"
    response_condition: str = "{{ response.statusCode < 400 }}"
    body: str | int | float | bool | list[Any] | dict[str, Any] | None = None  # any JSON
    form_data: dict[str, Any] | None = None
    content_type: str | None = None
    headers: dict[str, Any] | None = None
    options: dict[str, Any] | None = None
    ssl_options: dict[str, Any] | None = None
    encrypt_body: bool = False


class PollingKind(BaseKind):
    """A kind evaluated every `interval`; one execution at a time, never backfilled."""

    locks: ClassVar[bool] = True

    def validate(self, raw: Mapping[str, Any]) -> list[Problem]:
        return duration_problems(raw, "interval")

    def plan(self, trigger: PollingTrigger) -> FirePlan:
        return IntervalPlan(trigger.interval)

    def due(
        self,
        trigger: Trigger,
        plan: FirePlan,
        next_fire_at: float,
        last_fire_at: float | None,
        now: float,
    ) -> Step:
        return Poll(now, plan.next_after(now))

    def ready(
        self, flow: Flow, trigger: Trigger, plan: FirePlan, poll: Poll, renderer: Renderer
    ) -> bool:
        """Whether the trigger's conditions let this poll run. Raises when they cannot be
        evaluated."""
        conditions = self.conditions(trigger)
        if not conditions:
            return True
        context = {"trigger": {"date": plan.iso(poll.date)}, "flow": {"id": flow.id}}
        return conditions_hold(conditions, context, renderer)

    def polled(
        self, flow: Flow, trigger: Trigger, variables: dict[str, Any], rendering: Rendering
    ) -> Fired | None:
        """The execution of a poll that found `variables` (its trigger variables); FAILED
        with a log line when its inputs or labels cannot be rendered."""
        origin = ExecutionTrigger(id=trigger.id, type=trigger.type, variables=variables)
        execution = Execution.new(
            namespace=flow.namespace,
            flow_id=flow.id,
            flow_revision=flow.revision or 1,
            trigger=origin,
        )
        context = {
            "trigger": variables,
            "flow": flow_context(flow),
            "labels": dict(flow.labels or {}),
        }
        labels = flow_labels(flow)
        renderer = rendering.renderer
        try:
            if trigger.inputs or flow.inputs:
                rendered = renderer.render_value_typed(dict(trigger.inputs or {}), context)
                execution.inputs = resolve_inputs(
                    flow, rendered, renderer=renderer, secret_key=rendering.secret_key
                )
            if trigger.labels:
                labels.update(renderer.render_value(dict(trigger.labels), context))
        except Exception as exc:
            return failed(execution, trigger, now_iso(), exc)
        return labelled(execution, labels)


class HttpTriggerKind(PollingKind):
    type_name: ClassVar[str] = "io.kestra.plugin.core.http.Trigger"
    aliases: ClassVar[tuple[str, ...]] = ("io.kestra.plugin.fs.http.Trigger",)
    schema: ClassVar[type[Trigger]] = HttpTrigger


HTTP_TRIGGER = register_kind(HttpTriggerKind())
