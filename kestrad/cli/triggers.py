"""`kestrad triggers list|unlock|enable|disable|backfill`: trigger states, straight from the store.

These commands write the `triggers` rows directly (with a fresh `updated`), so they work
whether or not the daemon runs; a running daemon's monitoring loop picks the change up
within one monitor interval.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from typing import Any

from kestrad.cli.store import open_configured_store
from kestrad.config import ConfigError
from kestrad.flows.loader import load_flow
from kestrad.runtime.scheduler import new_backfill
from kestrad.store.base import Store, TriggerRow
from kestrad.triggers.cron import NEVER, zone_named
from kestrad.triggers.fire_times import FirePlan
from kestrad.triggers.registry import plan_for

ACTIONS = ("list", "unlock", "enable", "disable", "backfill")


async def handle(args: argparse.Namespace) -> int:
    """Run one `triggers` action; 0 on success, 1 when the trigger is unknown, 2 on bad use."""
    try:
        async with open_configured_store(args.config) as store:
            if args.triggers_action == "list":
                return await _list(store, args)
            namespace, flow_id = _split(args.flow)
            row = await store.get_trigger(namespace, flow_id, args.trigger)
            if row is None:
                print(f"no trigger {args.flow} {args.trigger}", file=sys.stderr)
                return 1
            message = await _change(store, row, args)
            await store.save_trigger_states([_touch(row)], [])
            print(message)
            return 0
    except (ValueError, LookupError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


async def _change(store: Store, row: TriggerRow, args: argparse.Namespace) -> str:
    action = args.triggers_action
    if action == "unlock":
        was, row.execution_id = row.execution_id, None
        return f"unlocked (was {was})" if was else "not locked"
    if action in ("enable", "disable"):
        row.disabled = action == "disable"
        return f"{action}d"
    if args.pause or args.resume or args.delete:
        if row.backfill is None:
            raise LookupError("this trigger has no backfill")
        if args.delete:
            row.backfill = None
            return "backfill deleted"
        row.backfill.paused = bool(args.pause)
        return "backfill paused" if args.pause else "backfill resumed"
    plan = await _plan(store, row)
    start = _instant(args.start, plan.zone, "--start")
    end = _instant(args.end, plan.zone, "--end") if args.end else time.time()
    row.backfill = new_backfill(
        plan, start, end, inputs=_pairs(args.input) or None, labels=_pairs(args.label) or None
    )
    first = plan.iso(row.backfill.cursor) if row.backfill.cursor <= end else "none in range"
    return f"backfill {plan.iso(start)} .. {plan.iso(end)}; first date {first}"


async def _plan(store: Store, row: TriggerRow) -> FirePlan:
    flow_row = await store.get_flow(row.namespace, row.flow_id)
    if flow_row is None or flow_row.deleted:
        raise LookupError(f"flow {row.namespace}/{row.flow_id} not found")
    flow = load_flow(flow_row.source, file=flow_row.file, strict=False)
    trigger = flow.find_trigger(row.trigger_id)
    plan = plan_for(trigger) if trigger is not None else None
    if plan is None:
        raise LookupError(f"trigger {row.trigger_id} is not a schedule of that flow")
    return plan


async def _list(store: Store, args: argparse.Namespace) -> int:
    namespace, flow_id = _split(args.flow) if args.flow else (args.namespace, None)
    rows = await store.list_triggers(namespace=namespace, flow_id=flow_id, limit=args.limit)
    print(f"{'FLOW':<40} {'TRIGGER':<16} {'NEXT FIRE (UTC)':<26} {'STATE':<9} EXECUTION / BACKFILL")
    for row in rows:
        nxt = "never" if row.next_fire_at >= NEVER else _utc(row.next_fire_at)
        state = "disabled" if row.disabled else ("locked" if row.execution_id else "ready")
        extra = row.execution_id or ""
        if row.backfill is not None:
            b = row.backfill
            paused = " paused" if b.paused else ""
            extra += f" backfill {_utc(b.start)}..{_utc(b.end)} at {_utc(b.cursor)}{paused}"
        print(
            f"{row.namespace + '/' + row.flow_id:<40} {row.trigger_id:<16} {nxt:<26} {state:<9} {extra}"
        )
    return 0


def _touch(row: TriggerRow) -> TriggerRow:
    row.updated = time.time()
    return row


def _utc(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds")


def _instant(text: str | None, zone: Any, option: str) -> float:
    if not text:
        raise ValueError(f"{option} is required")
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{option} `{text}` is not an ISO-8601 date-time") from exc
    return (value if value.tzinfo else value.replace(tzinfo=zone or zone_named(None))).timestamp()


def _split(value: str) -> tuple[str, str]:
    namespace, _, flow_id = value.rpartition("/")
    if not namespace or not flow_id:
        raise ValueError(f"`{value}` must be NAMESPACE/FLOW_ID")
    return namespace, flow_id


def _pairs(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"`{item}` must be KEY=VALUE")
        out[key] = value
    return out
