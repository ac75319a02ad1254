"""The scheduler on a real SQLite store with a movable clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from kestrad.model.state import FAILED, SUCCESS
from kestrad.runtime.commands.triggers import new_backfill
from kestrad.runtime.monitor import TriggerMonitor
from kestrad.runtime.trigger_firing import CATCH_UP
from tests.scheduler.helpers import Clock, at, schedule_flow, scheduler_for

pytestmark = pytest.mark.anyio
KEY = ("company.team", "hourly", "schedule")


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


async def test_first_fire_is_the_next_cron_time_and_one_transaction_per_tick(store) -> None:
    clock = Clock(at("2024-05-01T10:30:00"))
    scheduler, _ = await scheduler_for(store, [schedule_flow()], clock)
    [row] = await store.load_triggers()
    assert iso(row.next_fire_at) == "2024-05-01T11:00:00+00:00"
    assert (await scheduler.tick()).due == 0
    clock.advance(1800)
    report = await scheduler.tick()
    [execution] = report.created
    assert execution.trigger.variables == {
        "date": "2024-05-01T11:00:00+00:00",
        "next": "2024-05-01T12:00:00+00:00",
        "previous": "2024-05-01T10:00:00+00:00",
    }
    assert execution.label_map()["system.correlationId"] == execution.id
    [row] = await store.load_triggers()
    assert row.execution_id == execution.id
    assert iso(row.next_fire_at) == "2024-05-01T12:00:00+00:00"
    assert (await store.get_execution(execution.id)) is not None


@pytest.mark.parametrize(
    ("policy", "fired", "next_fire"),
    [
        ("ALL", [f"2024-05-01T{h}:00:00+00:00" for h in (11, 12, 13, 14)], "15"),
        ("LAST", ["2024-05-01T14:00:00+00:00"], "15"),
        ("NONE", [], "15"),
    ],
)
async def test_recovery_after_a_three_hour_outage(store, policy, fired, next_fire) -> None:
    """ALL fires every missed date in the first tick (each its own execution)."""
    clock = Clock(at("2024-05-01T10:30:00"))
    extra = f"    recoverMissedSchedules: {policy}"
    await scheduler_for(store, [schedule_flow(extra=extra)], clock)
    clock.advance(3 * 3600 + 2400)  # down at 10:30, back at 14:10
    restarted, _ = await scheduler_for(store, [], clock)
    report = await restarted.tick()
    dates = [e.trigger.variables["date"] for e in report.created]
    assert dates == fired
    assert iso(restarted.state(KEY).next_fire_at) == f"2024-05-01T{next_fire}:00:00+00:00"


async def test_all_catches_up_in_one_tick_then_waits_for_its_lock(store) -> None:
    clock = Clock(at("2024-05-01T10:30:00"))
    await scheduler_for(store, [schedule_flow()], clock)
    clock.advance(4 * 3600)  # 14:30: 11, 12, 13 and 14 were missed
    scheduler, _ = await scheduler_for(store, [], clock)
    created = (await scheduler.tick()).created
    assert [e.trigger.variables["date"][11:16] for e in created] == [
        "11:00",
        "12:00",
        "13:00",
        "14:00",
    ]
    assert [e.trigger.variables["previous"][11:16] for e in created] == [
        "10:00",
        "11:00",
        "12:00",
        "13:00",
    ]
    clock.advance(3600)  # 15:30: due, but the last fire still runs
    assert (await scheduler.tick()).created == []
    [row] = await store.load_triggers()
    assert row.execution_id == created[-1].id
    for execution in created:
        execution.state.set(SUCCESS)
        scheduler.execution_ended(execution)
    [fire] = (await scheduler.tick()).created
    assert fire.trigger.variables["date"][11:16] == "15:00"


def every_second(policy: str) -> str:
    extra = f"    withSeconds: true\n    recoverMissedSchedules: {policy}"
    return schedule_flow("every_second", "* * * * * *", extra=extra)


@pytest.mark.parametrize(
    ("policy", "fired"), [("ALL", [11, 12, 13, 14, 15]), ("LAST", [15]), ("NONE", [15])]
)
async def test_a_per_second_schedule_catches_up_after_a_freeze(store, policy, fired) -> None:
    """Frozen 5 s (a stalled daemon, a leader change, a database outage): the next tick
    fires every date due since, so the delay behind the cron is gone at once. Before, one
    date fired per tick and the delay stayed for good."""
    clock = Clock(at("2024-05-01T10:00:09.5"))
    scheduler, _ = await scheduler_for(store, [every_second(policy)], clock)
    clock.advance(1)
    [first] = (await scheduler.tick()).created
    assert first.trigger.variables["date"][17:19] == "10"
    first.state.set(SUCCESS)
    scheduler.execution_ended(first)
    clock.advance(5)  # 10:00:15.5: 11 to 15 are due, the tick ran late
    created = (await scheduler.tick()).created
    assert [int(e.trigger.variables["date"][17:19]) for e in created] == fired
    row = scheduler.state(("company.team", "every_second", "schedule"))
    assert iso(row.next_fire_at) == "2024-05-01T10:00:16+00:00"


async def test_catching_up_is_bounded_per_tick(store) -> None:
    clock = Clock(at("2024-05-01T10:00:00.5"))
    scheduler, _ = await scheduler_for(store, [every_second("ALL")], clock)
    clock.advance(250)  # 250 dates due
    first = (await scheduler.tick()).created
    assert len(first) == CATCH_UP
    for execution in first:
        execution.state.set(SUCCESS)
        scheduler.execution_ended(execution)
    second = (await scheduler.tick()).created
    assert len(second) == CATCH_UP
    assert second[0].trigger.variables["date"] == "2024-05-01T10:01:41+00:00"


async def test_monitor_unlocks_ended_and_vanished_executions(store) -> None:
    clock = Clock(at("2024-05-01T10:59:59"))
    scheduler, _ = await scheduler_for(store, [schedule_flow()], clock)
    clock.advance(1)
    [execution] = (await scheduler.tick()).created
    monitor = TriggerMonitor(scheduler)
    assert (await monitor.check()).released == []
    execution.state.set(SUCCESS)
    await store.save_trigger_states([], [execution])
    assert (await monitor.check()).released == [execution.id]
    await scheduler.tick()
    assert (await store.load_triggers())[0].execution_id is None
    # A lock whose execution no longer exists is released too.
    clock.advance(3600)
    [second] = (await scheduler.tick()).created
    row = scheduler.state(KEY)
    scheduler.locks.take_over(row, "gone")
    assert (await monitor.check()).released == ["gone"]
    assert second.id != "gone"


async def test_monitor_reports_executions_that_never_started(store) -> None:
    clock = Clock(at("2024-05-01T10:59:59"))
    scheduler, _ = await scheduler_for(store, [schedule_flow()], clock, not_started_after="PT0S")
    clock.advance(1)
    [execution] = (await scheduler.tick()).created
    report = await TriggerMonitor(scheduler).check()
    assert report.not_started == [execution.id]


async def test_stop_after_disables_the_trigger(store) -> None:
    clock = Clock(at("2024-05-01T10:59:59"))
    extra = "    stopAfter: [FAILED]"
    scheduler, _ = await scheduler_for(store, [schedule_flow(extra=extra)], clock)
    clock.advance(1)
    [execution] = (await scheduler.tick()).created
    execution.state.set(FAILED)
    scheduler.execution_ended(execution)
    await scheduler.tick()
    [row] = await store.load_triggers()
    assert row.disabled and row.execution_id is None
    clock.advance(7200)
    assert (await scheduler.tick()).created == []


async def test_failed_evaluation_creates_one_failed_execution_per_fire(store) -> None:
    clock = Clock(at("2024-05-01T10:59:59"))
    inputs = "inputs:\n  - id: count\n    type: INT\n"
    extra = "    inputs:\n      count: not-a-number"
    scheduler, _ = await scheduler_for(store, [schedule_flow(inputs=inputs, extra=extra)], clock)
    clock.advance(1)
    [execution] = (await scheduler.tick()).created
    assert execution.state.current == FAILED
    logs = await store.list_logs(execution.id)
    assert "could not be evaluated" in logs[0].message and "count" in logs[0].message
    assert (await scheduler.tick()).created == []  # not again every second
    assert scheduler.state(KEY).execution_id is None


async def test_inputs_are_rendered_with_the_trigger_date(store) -> None:
    clock = Clock(at("2024-05-01T10:59:59"))
    inputs = "inputs:\n  - id: day\n    type: STRING\n"
    extra = '    inputs:\n      day: "{{ trigger.date }}"\n    labels:\n      team: data'
    scheduler, _ = await scheduler_for(store, [schedule_flow(inputs=inputs, extra=extra)], clock)
    clock.advance(1)
    [execution] = (await scheduler.tick()).created
    assert execution.inputs == {"day": "2024-05-01T11:00:00+00:00"}
    assert execution.label_map()["team"] == "data"


async def test_conditions_false_only_advance(store) -> None:
    clock = Clock(at("2024-05-01T10:59:59"))  # a Wednesday
    extra = (
        "    conditions:\n"
        "      - type: io.kestra.plugin.core.condition.DayWeek\n"
        "        dayOfWeek: MONDAY\n"
    )
    scheduler, _ = await scheduler_for(store, [schedule_flow(extra=extra)], clock)
    clock.advance(1)
    assert (await scheduler.tick()).created == []
    assert iso(scheduler.state(KEY).next_fire_at) == "2024-05-01T12:00:00+00:00"


async def test_late_maximum_delay_skips_stale_fires(store) -> None:
    clock = Clock(at("2024-05-01T10:30:00"))
    extra = "    lateMaximumDelay: PT10M"
    await scheduler_for(store, [schedule_flow(extra=extra)], clock)
    clock.advance(3 * 3600 + 100)  # 13:31:40; 11, 12 and 13 are late by more than 10 min
    scheduler, _ = await scheduler_for(store, [], clock)
    assert (await scheduler.tick()).created == []
    assert iso(scheduler.state(KEY).next_fire_at) == "2024-05-01T14:00:00+00:00"


async def test_schedule_on_dates(store) -> None:
    source = """
id: dates
namespace: company.team
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hi
triggers:
  - id: once
    type: io.kestra.plugin.core.trigger.ScheduleOnDates
    timezone: UTC
    dates: ["2024-05-01T12:00:00Z", "2024-05-02T12:00:00Z"]
"""
    clock = Clock(at("2024-05-01T11:00:00"))
    scheduler, _ = await scheduler_for(store, [source], clock)
    clock.advance(3600)
    [execution] = (await scheduler.tick()).created
    assert execution.trigger.variables["next"] == "2024-05-02T12:00:00+00:00"


async def test_backfill_covers_a_closed_range_and_pauses(store) -> None:
    clock = Clock(at("2024-05-02T00:30:00"))
    scheduler, _ = await scheduler_for(store, [schedule_flow()], clock)
    row = scheduler.state(KEY)
    plan = scheduler.plan(KEY)
    row.backfill = new_backfill(
        plan, at("2024-04-01T10:00:00").timestamp(), at("2024-04-01T13:00:00").timestamp()
    )
    scheduler.index.push(KEY)
    dates = []
    for _ in range(8):
        for execution in (await scheduler.tick()).created:
            dates.append(execution.trigger.variables["date"][11:16])
            execution.state.set(SUCCESS)
            scheduler.execution_ended(execution)
        if len(dates) == 2:  # pause, check nothing fires, resume
            row.backfill.paused = True
            scheduler.index.push(KEY)
            assert (await scheduler.tick()).created == []
            row.backfill.paused = False
            scheduler.index.push(KEY)
    assert dates == ["10:00", "11:00", "12:00", "13:00"]  # both ends included
    assert row.backfill is None
    # A range between two fire times has none.
    empty = new_backfill(
        plan, at("2024-04-01T10:10:00").timestamp(), at("2024-04-01T10:50:00").timestamp()
    )
    assert empty.cursor > empty.end


async def test_flow_changes_touch_single_entries(store) -> None:
    clock = Clock(at("2024-05-01T10:30:00"))
    scheduler, flows = await scheduler_for(store, [schedule_flow()], clock)
    flow = await flows.deploy(schedule_flow(cron="*/5 * * * *"))
    scheduler.flow_changed(flow)
    assert iso(scheduler.state(KEY).next_fire_at) == "2024-05-01T10:35:00+00:00"
    scheduler.flow_removed("company.team", "hourly")
    await scheduler.tick()
    assert await store.load_triggers() == []
    clock.advance(3600)
    assert (await scheduler.tick()).due == 0


async def test_disable_and_enable_apply_recovery_once(store) -> None:
    clock = Clock(at("2024-05-01T10:30:00"))
    extra = "    recoverMissedSchedules: NONE"
    scheduler, _ = await scheduler_for(store, [schedule_flow(extra=extra)], clock)
    scheduler.set_disabled(KEY, True)
    clock.advance(3 * 3600)
    assert (await scheduler.tick()).created == []
    scheduler.set_disabled(KEY, False)
    assert iso(scheduler.state(KEY).next_fire_at) == "2024-05-01T14:00:00+00:00"


async def test_monitor_takes_in_changes_written_by_the_cli(store) -> None:
    clock = Clock(at("2024-05-01T10:30:00"))
    scheduler, _ = await scheduler_for(store, [schedule_flow()], clock)
    monitor = TriggerMonitor(scheduler)
    monitor._watermark = 0.0
    [row] = await store.load_triggers()
    row.disabled = True
    row.updated = time.time() + 1
    await store.save_trigger_states([row], [])
    assert (await monitor.check()).synced == 1
    clock.advance(3600)
    assert (await scheduler.tick()).created == []
    row.disabled = False
    row.updated = time.time() + 2
    await store.save_trigger_states([row], [])
    assert (await monitor.check()).synced == 1
    assert len((await scheduler.tick()).created) == 1  # ALL: the missed 11:00 fires
