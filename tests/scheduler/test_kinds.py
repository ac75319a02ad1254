"""Each trigger kind through the protocol the loader and the scheduler use: its checks,
its plan, what a due trigger does, and the execution it builds. Pure: no store, no clock."""

from __future__ import annotations

from typing import Any

import pytest

from kestrad.expr.engine import Renderer
from kestrad.flows.loader import load_flow
from kestrad.model.execution import Execution
from kestrad.model.state import FAILED, SUCCESS
from kestrad.triggers.cron import NEVER
from kestrad.triggers.flow import FLOW
from kestrad.triggers.kind import Extra, Fire, Poll, Rendering, ScheduledKind, Skip
from kestrad.triggers.registry import kind_named, kind_of
from tests.scheduler.helpers import at

RENDERING = Rendering(Renderer())


def trigger_of(trigger_yaml: str, inputs: str = "") -> tuple[Any, Any]:
    flow = load_flow(
        f"""
id: kinds
namespace: company.team
labels:
  team: data
{inputs}
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hi
triggers:
{trigger_yaml}
"""
    )
    flow.revision = 3
    return flow, flow.triggers[0]


def scheduled(trigger: Any) -> ScheduledKind:
    kind = kind_of(trigger)
    assert kind is not None and kind.plan(trigger) is not None
    return kind  # type: ignore[return-value]


def t(text: str) -> float:
    return at(text).timestamp()


@pytest.mark.parametrize(
    ("type_name", "schema", "locks", "backfills"),
    [
        ("io.kestra.plugin.core.trigger.Schedule", "Schedule", True, True),
        ("io.kestra.core.models.triggers.types.Schedule", "Schedule", True, True),
        ("io.kestra.plugin.core.trigger.ScheduleOnDates", "ScheduleOnDates", True, True),
        ("io.kestra.plugin.core.http.Trigger", "HttpTrigger", True, False),
        ("io.kestra.plugin.fs.http.Trigger", "HttpTrigger", True, False),
        ("io.kestra.plugin.core.trigger.Webhook", "Webhook", False, False),
        ("io.kestra.plugin.core.trigger.Flow", "FlowTrigger", False, False),
    ],
)
def test_every_built_in_kind_is_registered_with_its_aliases(
    type_name: str, schema: str, locks: bool, backfills: bool
) -> None:
    kind = kind_named(type_name)
    assert kind is not None
    assert kind.schema.__name__ == schema and kind.schema.type_name == kind.type_name
    assert (kind.locks, kind.backfills) == (locks, backfills)


def test_kinds_report_their_own_load_time_faults() -> None:
    schedule = kind_named("io.kestra.plugin.core.trigger.Schedule")
    dates = kind_named("io.kestra.plugin.core.trigger.ScheduleOnDates")
    webhook = kind_named("io.kestra.plugin.core.trigger.Webhook")
    http = kind_named("io.kestra.plugin.core.http.Trigger")
    assert schedule and dates and webhook and http
    raw = {"cron": "0 * *", "timezone": "Mars/Olympus", "lateMaximumDelay": "soon"}
    assert [where for where, _ in schedule.validate(raw)] == [
        ("cron",),
        ("timezone",),
        ("lateMaximumDelay",),
    ]
    assert schedule.validate({"cron": "@hourly", "lateMaximumDelay": "{{ later }}"}) == []
    assert dates.validate({"dates": ["2024-01-01T00:00:00Z", "tomorrow"]}) == [
        (("dates", 1), "`tomorrow` is not an ISO-8601 date-time")
    ]
    multiple = {"type": "io.kestra.plugin.core.condition.MultipleCondition"}
    assert [w for w, _ in webhook.validate({"key": "k" * 300, "conditions": [multiple]})] == [
        ("key",),
        ("conditions", 0),
    ]
    assert [w for w, _ in http.validate({"interval": "often"})] == [("interval",)]


def test_a_schedule_fires_its_date_between_its_neighbours() -> None:
    flow, trigger = trigger_of(
        '  - id: hourly\n    type: io.kestra.plugin.core.trigger.Schedule\n    cron: "0 * * * *"\n'
        "    timezone: UTC\n    labels:\n      origin: '{{ trigger.date }}'"
    )
    kind = scheduled(trigger)
    plan = kind.plan(trigger)
    assert plan is not None
    due = t("2024-05-01T11:00:00")
    step = kind.due(trigger, plan, due, None, due + 5)
    assert step == Fire(due, t("2024-05-01T12:00:00"), t("2024-05-01T10:00:00"))
    # A fire right after the previous one keeps that one as `previous`.
    assert kind.due(trigger, plan, due, due - 60, due).previous == due - 60
    fired = kind.fire(flow, trigger, plan, step, RENDERING)
    assert fired is not None and fired.log is None
    execution = fired.execution
    assert execution.trigger.variables == {
        "date": "2024-05-01T11:00:00+00:00",
        "next": "2024-05-01T12:00:00+00:00",
        "previous": "2024-05-01T10:00:00+00:00",
    }
    assert execution.flow_revision == 3
    labels = execution.label_map()
    assert labels["team"] == "data" and labels["origin"] == "2024-05-01T11:00:00+00:00"
    assert labels["system.correlationId"] == execution.id
    replayed = kind.replay(plan, t("2024-04-01T10:00:00"))
    assert replayed == Fire(
        t("2024-04-01T10:00:00"), t("2024-04-01T11:00:00"), t("2024-04-01T09:00:00")
    )
    backfilled = kind.fire(flow, trigger, plan, replayed, RENDERING, Extra(labels={"b": "1"}))
    assert backfilled is not None and backfilled.execution.label_map()["b"] == "1"


def test_a_schedule_skips_fires_later_than_its_maximum_delay() -> None:
    _, trigger = trigger_of(
        '  - id: hourly\n    type: io.kestra.plugin.core.trigger.Schedule\n    cron: "0 * * * *"\n'
        "    timezone: UTC\n    lateMaximumDelay: PT10M"
    )
    kind = scheduled(trigger)
    plan = kind.plan(trigger)
    assert plan is not None
    missed = t("2024-05-01T11:00:00")
    assert kind.due(trigger, plan, missed, None, missed + 5 * 60) == Fire(
        missed, t("2024-05-01T12:00:00"), t("2024-05-01T10:00:00")
    )
    assert kind.due(trigger, plan, missed, None, t("2024-05-01T13:31:40")) == Skip(
        missed, t("2024-05-01T14:00:00")
    )


def test_schedule_conditions_decide_and_a_bad_input_fails_once() -> None:
    flow, trigger = trigger_of(
        '  - id: hourly\n    type: io.kestra.plugin.core.trigger.Schedule\n    cron: "0 * * * *"\n'
        "    timezone: UTC\n    inputs:\n      count: not-a-number\n"
        "    scheduleConditions:\n"
        "      - type: io.kestra.plugin.core.condition.DayWeek\n        dayOfWeek: WEDNESDAY",
        inputs="inputs:\n  - id: count\n    type: INT",
    )
    kind = scheduled(trigger)
    plan = kind.plan(trigger)
    assert plan is not None
    assert len(kind.conditions(trigger)) == 1  # the deprecated spelling counts too
    thursday = t("2024-05-02T11:00:00")
    assert (
        kind.fire(flow, trigger, plan, kind.due(trigger, plan, thursday, None, thursday), RENDERING)
        is None
    )
    wednesday = t("2024-05-01T11:00:00")
    fired = kind.fire(
        flow, trigger, plan, kind.due(trigger, plan, wednesday, None, wednesday), RENDERING
    )
    assert fired is not None and fired.execution.state.current == FAILED
    assert fired.log is not None and "could not be evaluated" in fired.log.message


def test_schedule_on_dates_fires_each_date_then_never() -> None:
    _, trigger = trigger_of(
        "  - id: once\n    type: io.kestra.plugin.core.trigger.ScheduleOnDates\n"
        '    timezone: Europe/Paris\n    dates: ["2024-05-02T12:00:00", "2024-05-01T12:00:00Z"]'
    )
    kind = scheduled(trigger)
    plan = kind.plan(trigger)
    assert plan is not None
    first, second = t("2024-05-01T12:00:00"), t("2024-05-02T10:00:00")  # Paris is UTC+2
    assert plan.next_after(first - 1) == first
    assert kind.due(trigger, plan, second, first, second) == Fire(second, NEVER, first)


def test_a_polling_trigger_polls_and_builds_the_execution_of_what_it_found() -> None:
    flow, trigger = trigger_of(
        "  - id: http\n    type: io.kestra.plugin.core.http.Trigger\n    uri: http://x\n"
        "    interval: PT30S\n    labels:\n      code: '{{ trigger.code }}'\n"
        "    conditions:\n      - type: io.kestra.plugin.core.condition.Expression\n"
        "        expression: \"{{ flow.id == 'kinds' }}\""
    )
    kind = scheduled(trigger)
    plan = kind.plan(trigger)
    assert plan is not None
    now = t("2024-05-01T11:00:07")
    step = kind.due(trigger, plan, now - 3, None, now)
    assert step == Poll(now, now + 30)
    assert isinstance(step, Poll) and kind.ready(flow, trigger, plan, step, RENDERING.renderer)
    assert kind.replay(plan, now) is None  # polls are never backfilled
    fired = kind.polled(flow, trigger, {"code": 200, "body": "ok"}, RENDERING)
    assert fired is not None
    assert fired.execution.trigger.variables == {"code": 200, "body": "ok"}
    assert fired.execution.label_map()["code"] == "200"


def test_webhook_and_flow_triggers_are_not_fired_by_the_scheduler() -> None:
    _, webhook = trigger_of(
        "  - id: hook\n    type: io.kestra.plugin.core.trigger.Webhook\n    key: k"
    )
    _, flow_trigger = trigger_of("  - id: after\n    type: io.kestra.plugin.core.trigger.Flow")
    for trigger in (webhook, flow_trigger):
        kind = kind_of(trigger)
        assert kind is not None and kind.plan(trigger) is None


def test_a_flow_trigger_listens_matches_and_builds_its_execution() -> None:
    flow, trigger = trigger_of(
        "  - id: after\n    type: io.kestra.plugin.core.trigger.Flow\n    states: [SUCCESS]\n"
        "    inputs:\n      from: '{{ trigger.executionId }}'\n"
        "    conditions:\n      - type: io.kestra.plugin.core.condition.ExecutionFlow\n"
        "        namespace: company.team\n        flowId: upstream",
        inputs="inputs:\n  - id: from\n    type: STRING",
    )
    upstream = Execution.new(namespace="company.team", flow_id="upstream", flow_revision=1)
    assert FLOW.listens_to(trigger, SUCCESS) and not FLOW.listens_to(trigger, FAILED)
    assert FLOW.matches(trigger, upstream, SUCCESS)
    other = Execution.new(namespace="company.team", flow_id="other", flow_revision=1)
    assert not FLOW.matches(trigger, other, SUCCESS)
    assert not FLOW.windowed(trigger)
    variables = {"trigger": {"executionId": upstream.id}}
    execution = FLOW.triggered(flow, trigger, upstream, upstream.outputs, variables, RENDERING)
    assert execution.inputs == {"from": upstream.id}
    assert execution.trigger.variables["flowId"] == "upstream"
