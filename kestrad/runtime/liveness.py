"""Liveness: hand the worker jobs of silent instances to the living ones.

Each engine heartbeats its `service_instance` row. A process killed with `kill -9`, or a
machine lost, never says goodbye: its claimed worker jobs would wait for it forever. This
loop, run by every engine, marks instances silent for longer than `liveness.timeout`
DISCONNECTED and releases their claims, so any live worker picks the jobs up again
(at-least-once; the job payload, hence the attempt number, is unchanged). Running it
everywhere is safe: the update is one statement, so two checkers never both release the
same instance's jobs, and a lost checker costs nothing while another one runs.
"""

from __future__ import annotations

import logging
import time

import anyio

from kestrad.config import LivenessConfig
from kestrad.model.durations import parse_duration
from kestrad.store.base import Store

log = logging.getLogger("kestrad.liveness")


class LivenessChecker:
    """Every `heartbeat_interval`, disconnect silent instances and purge long-dead rows."""

    def __init__(self, store: Store, instance_id: str, config: LivenessConfig) -> None:
        self.store = store
        self.instance_id = instance_id
        self.interval = parse_duration(config.heartbeat_interval).total_seconds()
        self.timeout = parse_duration(config.timeout).total_seconds()
        self.purge_after = parse_duration(config.purge_after).total_seconds()

    async def run(self) -> None:
        """Check, then wait, until cancelled; a failed check only logs (the next retries)."""
        while True:
            await anyio.sleep(self.interval)
            try:
                await self.check()
            except Exception:
                log.exception("liveness check failed")

    async def check(self, now: float | None = None) -> list[str]:
        """One pass; returns the ids of the instances it disconnected."""
        now = time.time() if now is None else now
        gone = await self.store.disconnect_silent_instances(
            self.instance_id, now - self.timeout, now - self.purge_after
        )
        for instance in gone:
            log.warning(
                "instance %s silent for over %.0fs: disconnected, its worker jobs handed out",
                instance,
                self.timeout,
            )
        return gone
