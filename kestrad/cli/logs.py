"""`kestrad logs [EXECUTION] [-f]`: task log lines straight from the database.

SQLite in WAL mode (and PostgreSQL) lets this read while a daemon writes, so it works
whether or not the daemon runs. Each line is `time level namespace/flow execution task
message`.
"""

from __future__ import annotations

import argparse
import sys

import anyio

from kestrad.cli.common import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    error,
    flow_filter,
    levels_from,
)
from kestrad.cli.store import open_configured_store
from kestrad.config import ConfigError
from kestrad.model.records import LogEntry
from kestrad.model.state import TERMINATED
from kestrad.store.base import Store

FOLLOW_INTERVAL = 0.5


async def handle(args: argparse.Namespace) -> int:
    try:
        levels = levels_from(args.level)
        namespace, flow_id = flow_filter(args.flow)
        async with open_configured_store(args.config) as store:
            filters = dict(
                execution_id=args.execution, namespace=namespace, flow_id=flow_id, levels=levels
            )
            if args.execution:
                if await store.get_execution(args.execution) is None:
                    error(f"execution {args.execution} not found")
                    return EXIT_FAILED
                entries = await store.search_logs(after=0, limit=100_000, **filters)
            else:
                entries = await store.latest_logs(limit=max(args.lines, 0), **filters)
            last = entries[-1].seq if entries else 0
            if not entries and not args.execution:
                last = await _last_seq(store)
            _print_logs(entries)
            while args.follow:
                entries = await store.search_logs(after=last, limit=10_000, **filters)
                _print_logs(entries)
                if entries:
                    last = entries[-1].seq
                    continue
                if args.execution:
                    execution = await store.get_execution(args.execution)
                    if execution is None or execution.state.current in TERMINATED:
                        # Its lines all committed before its end: read past the horizon.
                        ended = dict(filters, ended=True)
                        _print_logs(await store.search_logs(after=last, limit=100_000, **ended))
                        break
                await anyio.sleep(FOLLOW_INTERVAL)
    except (ConfigError, ValueError, LookupError) as exc:
        error(exc)
        return EXIT_INVALID
    return EXIT_OK


async def _last_seq(store: Store) -> int:
    """With nothing printed yet, follow from the current end (not from the first line ever)."""
    latest = await store.latest_logs(limit=1)
    return latest[-1].seq if latest else 0


def format_log(entry: LogEntry) -> str:
    task = entry.task_id or "-"
    return (
        f"{entry.timestamp} {entry.level:<5} {entry.namespace}/{entry.flow_id} "
        f"{entry.execution_id} {task} {entry.message}"
    )


def _print_logs(entries: list[LogEntry]) -> None:
    for entry in entries:
        print(format_log(entry))
    sys.stdout.flush()
