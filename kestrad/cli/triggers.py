"""`kestrad triggers list|unlock|enable|disable|backfill`: trigger states, straight from the store.

These commands write the `triggers` rows directly (with a fresh `updated`), so they work
whether or not the daemon runs; a running daemon's monitoring loop picks the change up
within one monitor interval. Each command is validated and applied by
`runtime/commands/triggers.py`, as the API's are.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from kestrad.cli.store import open_configured_store
from kestrad.config import ConfigError
from kestrad.runtime.commands.triggers import (
    Outcome,
    TriggerCommandError,
    TriggerCommands,
    TriggerNotFound,
)
from kestrad.store.base import Store
from kestrad.triggers.cron import NEVER

ACTIONS = ("list", "unlock", "enable", "disable", "backfill")


async def handle(args: argparse.Namespace) -> int:
    """Run one `triggers` action; 0 on success, 1 when the trigger is unknown, 2 on bad use."""
    try:
        async with open_configured_store(args.config) as store:
            if args.triggers_action == "list":
                return await _list(store, args)
            key = (*_split(args.flow), args.trigger)
            outcome = await _change(TriggerCommands(store), key, args)
            print(outcome.message)
            return 0
    except TriggerNotFound as exc:
        print(exc, file=sys.stderr)
        return 1
    except (ValueError, LookupError, ConfigError, TriggerCommandError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


async def _change(
    commands: TriggerCommands, key: tuple[str, str, str], args: argparse.Namespace
) -> Outcome:
    action = args.triggers_action
    if action == "unlock":
        return await commands.unlock(key)
    if action in ("enable", "disable"):
        return await commands.set_enabled(key, action == "enable")
    if args.delete:
        return await commands.delete_backfill(key)
    if args.pause:
        return await commands.pause_backfill(key)
    if args.resume:
        return await commands.resume_backfill(key)
    return await commands.start_backfill(
        key,
        args.start,
        args.end,
        inputs=_pairs(args.input) or None,
        labels=_pairs(args.label) or None,
        spelled=("--start", "--end"),
    )


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


def _utc(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds")


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
