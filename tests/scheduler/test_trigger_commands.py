"""Trigger commands, on both stores: through a running scheduler, and on the stored rows
when there is none (the CLI) or it does not know the trigger."""

from __future__ import annotations

import pytest

from kestrad.runtime.commands.triggers import (
    CommandRefused,
    InvalidCommand,
    TriggerCommands,
    TriggerNotFound,
)
from kestrad.store.base import TriggerRow
from tests.scheduler.helpers import Clock, at, schedule_flow, scheduler_for

pytestmark = pytest.mark.anyio
KEY = ("company.team", "hourly", "schedule")
POLL_KEY = ("company.team", "watch", "http")
WATCH = """
id: watch
namespace: company.team
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hi
triggers:
  - id: http
    type: io.kestra.plugin.core.http.Trigger
    uri: http://127.0.0.1:9/never
"""


async def _stored(store, key=KEY) -> TriggerRow:
    row = await store.get_trigger(*key)
    assert row is not None
    return row


async def test_commands_on_stored_rows(store) -> None:
    clock = Clock(at("2024-05-01T10:30:00"))
    scheduler, _ = await scheduler_for(store, [schedule_flow(), WATCH], clock)
    scheduler.locks.hold(scheduler.state(KEY), "running-one")
    scheduler.writer.mark(scheduler.state(KEY))
    await scheduler.flush()
    commands = TriggerCommands(store)  # no scheduler in this process: the CLI's case

    before = (await _stored(store)).updated
    outcome = await commands.unlock(KEY)
    assert outcome.message == "unlocked (was running-one)"
    stored = await _stored(store)
    assert stored.execution_id is None and stored.updated > before
    assert (await commands.unlock(KEY)).message == "not locked"

    await commands.set_enabled(KEY, False)
    assert (await _stored(store)).disabled
    await commands.set_enabled(KEY, True)
    assert not (await _stored(store)).disabled

    started = await commands.start_backfill(
        KEY, "2024-04-01T10:00:00Z", "2024-04-01T13:00:00Z", labels={"origin": "backfill"}
    )
    assert started.message == (
        "backfill 2024-04-01T10:00:00+00:00 .. 2024-04-01T13:00:00+00:00; "
        "first date 2024-04-01T10:00:00+00:00"
    )
    backfill = (await _stored(store)).backfill
    assert backfill is not None and backfill.labels == {"origin": "backfill"}
    assert backfill.cursor == at("2024-04-01T10:00:00").timestamp()
    await commands.pause_backfill(KEY)
    assert (await _stored(store)).backfill.paused
    await commands.resume_backfill(KEY)
    assert not (await _stored(store)).backfill.paused
    assert (await commands.delete_backfill(KEY)).row.backfill is None
    assert (await _stored(store)).backfill is None


async def test_commands_are_validated_in_one_place(store) -> None:
    clock = Clock(at("2024-05-01T10:30:00"))
    await scheduler_for(store, [schedule_flow(), WATCH], clock)
    commands = TriggerCommands(store)
    with pytest.raises(TriggerNotFound, match="Unable to find trigger 'nope'"):
        await commands.set_enabled(("company.team", "hourly", "nope"), False)
    with pytest.raises(CommandRefused, match="has no backfill"):
        await commands.pause_backfill(KEY)
    with pytest.raises(CommandRefused, match="not a schedule"):
        await commands.start_backfill(POLL_KEY, "2024-04-01T10:00:00Z")
    with pytest.raises(InvalidCommand, match="--start is required"):
        await commands.start_backfill(KEY, None, spelled=("--start", "--end"))
    with pytest.raises(InvalidCommand, match="`start` `yesterday` is not an ISO-8601"):
        await commands.start_backfill(KEY, "yesterday")
    with pytest.raises(InvalidCommand, match="must not be before its start"):
        await commands.start_backfill(KEY, "2024-04-02T00:00:00Z", "2024-04-01T00:00:00Z")
    with pytest.raises(InvalidCommand, match="`inputs` must be an object"):
        await commands.start_backfill(KEY, "2024-04-01T00:00:00Z", inputs=["a"])
    assert (await _stored(store)).backfill is None  # nothing was written


async def test_commands_go_through_a_running_scheduler(store) -> None:
    clock = Clock(at("2024-05-02T00:30:00"))
    scheduler, _ = await scheduler_for(store, [schedule_flow()], clock)
    commands = TriggerCommands(store, scheduler)

    outcome = await commands.set_enabled(KEY, False)
    assert outcome.row is scheduler.state(KEY) and outcome.row.disabled
    assert not (await _stored(store)).disabled  # written by the next tick
    await scheduler.tick()
    assert (await _stored(store)).disabled
    await commands.set_enabled(KEY, True)

    await commands.start_backfill(KEY, "2024-04-01T10:00:00", "2024-04-01T11:00:00")
    dates = []
    for _ in range(4):
        for execution in (await scheduler.tick()).created:
            dates.append(execution.trigger.variables["date"])
            assert (await commands.unlock(KEY)).message == f"unlocked (was {execution.id})"
    assert dates == ["2024-04-01T10:00:00+00:00", "2024-04-01T11:00:00+00:00"]
    assert scheduler.state(KEY).backfill is None


async def test_a_trigger_the_scheduler_does_not_know_is_changed_in_its_row(store) -> None:
    clock = Clock(at("2024-05-01T10:30:00"))
    scheduler, _ = await scheduler_for(store, [schedule_flow()], clock)
    elsewhere = TriggerRow(
        namespace="company.team", flow_id="other", trigger_id="schedule", next_fire_at=0.0
    )
    await store.save_trigger_states([elsewhere], [])
    commands = TriggerCommands(store, scheduler)
    await commands.set_enabled(elsewhere.key, False)
    assert (await _stored(store, elsewhere.key)).disabled
    assert scheduler.state(elsewhere.key) is None
