"""Retention: ended executions (with their logs and files) and old log lines are deleted
in batches once they are older than `retention.executions` / `retention.logs`.

Runs in the daemon's monitoring side, never in the executor's or scheduler's loops; each
batch is its own transaction so a large backlog never holds the database for long.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import anyio

from kestrad.config import Config
from kestrad.model.durations import parse_duration
from kestrad.runtime.services import EngineServices
from kestrad.store.outage import Retry

log = logging.getLogger("kestrad.retention")


def _cutoff(age: str, now: datetime) -> str:
    """The ISO date before which records are old enough to go (the store's date form)."""
    limit = now - parse_duration(age)
    return limit.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def purge_once(
    services: EngineServices, config: Config, now: datetime | None = None
) -> dict[str, int]:
    """One retention pass; returns what it deleted."""
    now = now or datetime.now(UTC)
    done: dict[str, int] = {"executions": 0, "logs": 0, "files": 0}
    retention = config.retention
    if retention.executions:
        counts = await services.purge_executions(end=_cutoff(retention.executions, now))
        done["executions"] = counts.executions_count
        done["logs"] += counts.logs_count
        done["files"] = counts.storages_count
    if retention.logs:
        done["logs"] += await services.purge_logs(end=_cutoff(retention.logs, now))
    return done


async def run_retention(services: EngineServices, config: Config) -> None:
    """Every `retention.interval`, one pass (nothing to do when no retention is set).

    A pass that meets a database outage is tried again with back-off rather than a whole
    interval later (intervals are long: a missed pass would wait hours)."""
    interval = parse_duration(config.retention.interval).total_seconds()
    retry = Retry(services.store, "deleting old executions and logs (retention)")
    while True:
        if config.retention.executions or config.retention.logs:
            try:
                done = await purge_once(services, config)
            except Exception as exc:
                if retry.failed(exc):
                    await retry.wait()
                    continue
                log.exception("retention pass failed; retrying at the next interval")
            else:
                retry.succeeded()
                if any(done.values()):
                    log.info(
                        "retention: deleted %d executions, %d log lines, %d files",
                        done["executions"],
                        done["logs"],
                        done["files"],
                    )
        await anyio.sleep(interval)
