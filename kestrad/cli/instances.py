"""`kestrad instances list`: the daemons sharing this database, as the store sees them.

Read from the `service_instance` table rather than asked of each daemon, so it also shows
the ones that died: a DISCONNECTED row with a large heartbeat age is a daemon whose worker
jobs were handed to the others. The instance holding the scheduler lease (the one that
fires triggers) has `scheduler*` in its roles.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

from kestrad.cli.store import open_configured_store
from kestrad.config import ConfigError
from kestrad.store.base import InstanceRow

HEADER = ("ID", "ROLES", "HOST", "PID", "STARTED", "HEARTBEAT AGE", "STATE")


async def handle(args: argparse.Namespace) -> int:
    """Print one line per instance, running ones first; 2 when the store cannot be opened."""
    try:
        async with open_configured_store(args.config) as store:
            rows = await store.list_instances()
            lease = await store.scheduler_lease_holder()
    except (ConfigError, LookupError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    leader = lease[0] if lease is not None and lease[1] > 0 else None
    print(format_table(rows, time.time(), leader=leader), end="")
    return 0


def format_table(rows: list[InstanceRow], now: float, *, leader: str | None = None) -> str:
    """Aligned columns; the heartbeat as an age, since that is what liveness compares."""
    lines = [HEADER] + [
        (
            r.id,
            r.roles.replace("scheduler", "scheduler*") if r.id == leader else r.roles,
            r.host,
            str(r.pid),
            datetime.fromtimestamp(r.started, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            f"{max(now - r.heartbeat, 0.0):.1f}s",
            r.state,
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    return "".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() + "\n"
        for line in lines
    )
