"""Every command on a trigger, validated and applied in one place: enable, disable, unlock,
and a backfill's start, pause, resume and delete.

The API, the CLI and the Toggle task (through `EngineServices.toggle_trigger`) call these,
so a rule (a backfill needs a kind with fire times, an end not before its start) is
written once. A command goes through the running scheduler when this process has one that
knows the trigger: its in-memory index is the truth between two ticks, and its next tick
writes the change. Otherwise it changes the stored row, with a fresh `updated`, which a
scheduler running elsewhere takes in through its monitor's sync.

Errors say how a caller should answer: `TriggerNotFound` (no such trigger),
`CommandRefused` (the trigger exists, the command does not apply to it),
`InvalidCommand` (a bad argument).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

import msgspec

from kestrad.flows.loader import load_flow
from kestrad.runtime.scheduler import Scheduler
from kestrad.store.base import Backfill, Store, TriggerKey, TriggerRow
from kestrad.triggers.fire_times import FirePlan
from kestrad.triggers.registry import kind_of


class TriggerCommandError(Exception):
    """A trigger command that cannot be applied."""


class TriggerNotFound(TriggerCommandError):
    """No such trigger (nor a stored state of it)."""


class CommandRefused(TriggerCommandError):
    """The trigger exists, but the command does not apply to it (no backfill to pause, no
    fire times to backfill, its flow gone)."""


class InvalidCommand(TriggerCommandError):
    """An argument of the command is wrong (a date that does not parse, say)."""


class Outcome(NamedTuple):
    """The trigger's state after the command, and a line saying what changed."""

    row: TriggerRow
    message: str


def new_backfill(
    plan: FirePlan,
    start: float,
    end: float,
    *,
    inputs: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
) -> Backfill:
    """A backfill of every fire time in [start, end]; its cursor is the first of them."""
    if end < start:
        raise InvalidCommand("a backfill's end must not be before its start")
    return Backfill(
        start=start, end=end, cursor=plan.at_or_after(start), inputs=inputs, labels=labels
    )


class TriggerCommands:
    """The trigger commands of one process: through `scheduler` when it runs here (and
    knows the trigger), else on the rows of `store`."""

    def __init__(self, store: Store, scheduler: Scheduler | None = None) -> None:
        self.store = store
        self.scheduler = scheduler

    # -- enable / disable / unlock ---------------------------------------------------------
    async def set_enabled(self, key: TriggerKey, enabled: bool) -> Outcome:
        """Enable or disable; re-enabling in the scheduler applies the recovery policy."""
        message = "enabled" if enabled else "disabled"
        scheduler = self._scheduler_of(key)
        if scheduler is not None:
            scheduler.set_disabled(key, not enabled)
            return Outcome(_live(scheduler, key), message)
        row = await self._stored(key)
        row.disabled = not enabled
        return Outcome(await self._save(row), message)

    async def unlock(self, key: TriggerKey) -> Outcome:
        """Clear the trigger's lock (the execution it waits for) so it can fire again."""
        scheduler = self._scheduler_of(key)
        if scheduler is not None:
            was = _live(scheduler, key).execution_id
            scheduler.unlock(key)
            return Outcome(_live(scheduler, key), _unlocked(was))
        row = await self._stored(key)
        was, row.execution_id = row.execution_id, None
        return Outcome(await self._save(row), _unlocked(was))

    # -- backfills -------------------------------------------------------------------------
    async def start_backfill(
        self,
        key: TriggerKey,
        start: Any,
        end: Any = None,
        *,
        inputs: Any = None,
        labels: Any = None,
        spelled: tuple[str, str] = ("`start`", "`end`"),
    ) -> Outcome:
        """Replay every fire time in [start, end] (ISO-8601 texts, naive ones in the
        trigger's zone; `end` defaults to now). `spelled` names the two arguments in error
        messages as the caller's users know them (`--start` on the command line)."""
        if inputs is not None and not isinstance(inputs, Mapping):
            raise InvalidCommand("`inputs` must be an object")
        if labels is not None and not isinstance(labels, Mapping):
            raise InvalidCommand("`labels` must be an object")
        scheduler = self._scheduler_of(key)
        if scheduler is not None:
            row = _live(scheduler, key)
            kind = scheduler.kind(key)
            plan = scheduler.plan(key) if kind is not None and kind.backfills else None
        else:
            row = await self._stored(key)
            plan = await self._stored_plan(key)
        if plan is None:
            raise CommandRefused(f"trigger {_name(key)} is not a schedule: nothing to backfill")
        first = _instant(start, plan, spelled[0])
        last = _instant(end, plan, spelled[1]) if end else time.time()
        backfill = new_backfill(
            plan,
            first,
            last,
            inputs=dict(inputs) if inputs is not None else None,
            labels=dict(labels) if labels is not None else None,
        )
        cursor = plan.iso(backfill.cursor) if backfill.cursor <= last else "none in range"
        message = f"backfill {plan.iso(first)} .. {plan.iso(last)}; first date {cursor}"
        return await self._set_backfill(scheduler, key, row, backfill, message)

    async def pause_backfill(self, key: TriggerKey) -> Outcome:
        return await self._change_backfill(key, "pause")

    async def resume_backfill(self, key: TriggerKey) -> Outcome:
        return await self._change_backfill(key, "resume")

    async def delete_backfill(self, key: TriggerKey) -> Outcome:
        return await self._change_backfill(key, "delete")

    async def _change_backfill(self, key: TriggerKey, action: str) -> Outcome:
        scheduler = self._scheduler_of(key)
        row = _live(scheduler, key) if scheduler is not None else await self._stored(key)
        if row.backfill is None:
            raise CommandRefused(f"trigger {_name(key)} has no backfill")
        if action == "delete":
            return await self._set_backfill(scheduler, key, row, None, "backfill deleted")
        paused = action == "pause"
        changed = msgspec.structs.replace(row.backfill, paused=paused)
        message = "backfill paused" if paused else "backfill resumed"
        return await self._set_backfill(scheduler, key, row, changed, message)

    async def _set_backfill(
        self,
        scheduler: Scheduler | None,
        key: TriggerKey,
        row: TriggerRow,
        backfill: Backfill | None,
        message: str,
    ) -> Outcome:
        if scheduler is not None:
            scheduler.set_backfill(key, backfill)
            return Outcome(_live(scheduler, key), message)
        row.backfill = backfill
        return Outcome(await self._save(row), message)

    # -- where a command applies -----------------------------------------------------------
    def _scheduler_of(self, key: TriggerKey) -> Scheduler | None:
        """The running scheduler, when it holds `key` in its index."""
        scheduler = self.scheduler
        if scheduler is not None and scheduler.state(key) is not None:
            return scheduler
        return None

    async def _stored(self, key: TriggerKey) -> TriggerRow:
        row = await self.store.get_trigger(*key)
        if row is None:
            raise TriggerNotFound(f"Unable to find trigger '{key[2]}' for flow '{key[0]}.{key[1]}'")
        return row

    async def _stored_plan(self, key: TriggerKey) -> FirePlan | None:
        """The plan of a stored trigger, from the latest revision of its flow."""
        flow_row = await self.store.get_flow(key[0], key[1])
        if flow_row is None or flow_row.deleted:
            raise CommandRefused(f"flow {key[0]}/{key[1]} not found")
        flow = load_flow(flow_row.source, file=flow_row.file, strict=False)
        trigger = flow.find_trigger(key[2])
        kind = kind_of(trigger) if trigger is not None else None
        if kind is None or not kind.backfills:
            return None
        return kind.plan(trigger)

    async def _save(self, row: TriggerRow) -> TriggerRow:
        row.updated = time.time()
        await self.store.save_trigger_states([row], [])
        return row


def _live(scheduler: Scheduler, key: TriggerKey) -> TriggerRow:
    row = scheduler.state(key)
    assert row is not None  # `_scheduler_of` chose the scheduler because it had the row
    return row


def _unlocked(was: str | None) -> str:
    return f"unlocked (was {was})" if was else "not locked"


def _name(key: TriggerKey) -> str:
    return "/".join(key)


def _instant(text: Any, plan: FirePlan, name: str) -> float:
    if not isinstance(text, str) or not text:
        raise InvalidCommand(f"{name} is required (an ISO-8601 date-time)")
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidCommand(f"{name} `{text}` is not an ISO-8601 date-time") from None
    return (value if value.tzinfo else value.replace(tzinfo=plan.zone)).timestamp()
