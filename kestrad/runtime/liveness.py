"""Liveness: hand the worker jobs of silent instances to the living ones.

Each engine heartbeats its `service_instance` row. A process killed with `kill -9`, or a
machine lost, never says goodbye: its claimed worker jobs would wait for it forever. This
loop, run by every engine, marks instances silent for longer than `liveness.timeout`
DISCONNECTED, fences them (their database sessions end, see store/lease.py) and releases
their claims, so any live worker picks the jobs up again (at-least-once; each delivery is
a new attempt, see `Worker._run_job`), and logs which jobs each dead instance had in
flight: the first clue when a job kills its worker. Nothing in a pass waits on a frozen
instance's row locks (`SKIP LOCKED`): what is still locked is released at a later pass.
Running it everywhere is safe: two checkers never both release the same instance's jobs,
and a lost checker costs nothing while another one runs. A disconnected instance is never
revived: its next heartbeat finds its row DISCONNECTED, and it stops.

After a database outage nobody could heartbeat, so every instance looks silent: the
checker waits one `liveness.timeout` past the recovery before judging anyone again, time
for the living to heartbeat, instead of handing out every running job at once.
"""

from __future__ import annotations

import logging
import time

import anyio
import msgspec

from kestrad.config import LivenessConfig
from kestrad.model.durations import parse_duration
from kestrad.model.messages import decode_job
from kestrad.store.base import InFlightJob, Store
from kestrad.store.lease import DISCONNECTED, Lease
from kestrad.store.outage import MAX_DELAY, Retry

log = logging.getLogger("kestrad.liveness")


class LivenessChecker:
    """Every `heartbeat_interval`, disconnect silent instances and purge long-dead rows."""

    def __init__(
        self, store: Store, instance_id: str, config: LivenessConfig, lease: Lease | None = None
    ) -> None:
        self.store = store
        self.instance_id = instance_id
        self.lease = lease
        self.interval = parse_duration(config.heartbeat_interval).total_seconds()
        self.timeout = parse_duration(config.timeout).total_seconds()
        self.purge_after = parse_duration(config.purge_after).total_seconds()
        self._check_retry = Retry(store, "checking the liveness of instances")
        self._beat_retry = Retry(store, "heartbeating", cap=min(self.interval, MAX_DELAY))

    async def run(self) -> None:
        """Check, then wait, until cancelled; a failed check only logs (the next retries)."""
        while True:
            await anyio.sleep(self.interval)
            if self._in_outage_grace():
                continue
            try:
                await self.check()
            except Exception as exc:
                if not self._check_retry.failed(exc):
                    log.exception("liveness check failed")
            else:
                self._check_retry.succeeded()

    async def heartbeat(self) -> None:
        """Record that this instance lives, every `heartbeat_interval`, until cancelled.

        A failed heartbeat is tried again sooner (back-off capped by the interval), so the
        row is fresh again as soon as the database answers after an outage."""
        while True:
            await anyio.sleep(self.interval)
            while not await self._beat():
                await self._beat_retry.wait()

    async def _beat(self) -> bool:
        sent = time.monotonic() if self.lease is None else self.lease.clock()
        try:
            running = await self.store.heartbeat(self.instance_id)
        except Exception as exc:
            if not self._beat_retry.failed(exc):
                log.exception("heartbeat failed")
            return False
        self._beat_retry.succeeded()
        if self.lease is not None:
            if not running:  # the engine's task group stops the daemon on this
                self.lease.lose(DISCONNECTED.format(id=self.instance_id))
            else:
                self.lease.renew(sent)
        return True

    def _in_outage_grace(self) -> bool:
        """True during an outage and for one `timeout` after it (see the module notes)."""
        outage = self._check_retry.outage
        if outage.down:
            return True
        return (
            outage.recovered_at is not None
            and time.monotonic() - outage.recovered_at < self.timeout
        )

    async def check(self, now: float | None = None) -> list[str]:
        """One pass; returns the ids of the instances it disconnected."""
        now = time.time() if now is None else now
        released = await self.store.disconnect_silent_instances(
            self.instance_id, now - self.timeout, now - self.purge_after
        )
        for instance in released.instances:
            log.warning(
                "instance %s silent for over %.0fs: disconnected and fenced (its database "
                "sessions ended), its worker jobs handed out",
                instance,
                self.timeout,
            )
        log_in_flight(released.jobs, "was silent")
        return released.instances


def log_in_flight(jobs: list[InFlightJob], why: str) -> None:
    """One WARNING per job a dead instance held, naming the task: `why` says how it died."""
    for job in jobs:
        log.warning("instance %s %s with %s in flight", job.instance_id, why, describe(job))


def describe(job: InFlightJob) -> str:
    """`worker job 12 (execution …, ns.flow task t, attempt 2, worker deaths under it: 2)`."""
    try:
        payload = decode_job(job.payload)
    except msgspec.DecodeError:
        return f"worker job {job.seq} (execution {job.key}, undecodable payload)"
    attempt = payload.attempt + max(job.deliveries - 1, 0)
    return (
        f"worker job {job.seq} (execution {payload.execution_id}, "
        f"{payload.namespace}.{payload.flow_id} task {payload.task_id}, attempt {attempt}, "
        f"worker deaths under it: {job.deliveries - job.handed_back})"
    )
