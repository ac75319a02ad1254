"""Scheduler leadership: several daemons may run the scheduler role, one of them fires.

Why a lease row and not only an advisory lock: the lease is renewed INSIDE the transaction
that writes a tick's fires (`save_trigger_states(..., lease=…)`). A daemon that lost it —
hung past its lease, cut off from the database — finds out in that very transaction, which
then writes nothing. So a trigger can never fire twice across daemons, whatever the
timing; a session advisory lock would be released with a dropped connection while the old
leader still holds fires in memory. Time is the database's clock (PostgreSQL), so drifting
machine clocks cannot make two daemons believe they both lead.

The leader keeps the whole trigger index in memory (runtime/scheduler.py); a standby keeps
nothing and, on taking over, builds a fresh index from the stored trigger states, which
the old leader's last committed tick left exact. A clean stop gives the lease up, so a
standby takes over within one claim interval instead of a whole lease.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import anyio

from kestrad.model.durations import parse_duration
from kestrad.model.execution import Execution
from kestrad.model.flow import Flow
from kestrad.runtime.monitor import TriggerMonitor
from kestrad.runtime.scheduler import Scheduler
from kestrad.store.base import FlowRow, LeaseLost, SchedulerLease, Store
from kestrad.store.outage import Retry

log = logging.getLogger("kestrad.scheduler")

_RELEASE_DEADLINE = 2.0  # seconds a stopping daemon spends giving the lease up


class SchedulerRole:
    """Stands by until this instance holds the scheduler lease, then runs the scheduler
    and its monitor until the lease is lost or the daemon stops.

    Flow changes and execution ends reach whichever Scheduler currently leads, through
    `flow_changed`/`execution_ended`; `on_change` tells the engine which one that is (the
    API and task services act through it, or on the stored rows when it is None).
    """

    def __init__(
        self,
        store: Store,
        *,
        holder: str,
        lease: str,
        make_scheduler: Callable[[SchedulerLease], Scheduler],
        on_change: Callable[[Scheduler | None], None],
    ) -> None:
        self.store = store
        self.lease = SchedulerLease(holder=holder, seconds=parse_duration(lease).total_seconds())
        self.make_scheduler = make_scheduler
        self.on_change = on_change
        self.current: Scheduler | None = None
        self.leading = False
        self._standby_logged: str | None = None

    # -- forwarded notices ---------------------------------------------------------------------
    def flow_changed(self, flow: Flow, *, enabled: bool) -> None:
        if self.current is not None:
            self.current.flow_changed(flow, enabled=enabled)

    def flow_removed(self, row: FlowRow) -> None:
        if self.current is not None:
            self.current.flow_removed(row.namespace, row.id)

    def execution_ended(self, execution: Execution) -> None:
        if self.current is not None:
            self.current.execution_ended(execution)

    # -- leadership ----------------------------------------------------------------------------
    async def try_lead(self) -> Scheduler | None:
        """Claim the lease; when it is ours, build the index and return the scheduler.

        None when another instance holds the lease, or took it while the index was built.
        """
        if not await self.store.claim_scheduler_lease(self.lease):
            await self._log_standby()
            return None
        scheduler = self.make_scheduler(self.lease)
        self.current = scheduler  # notices arriving while it starts are not lost
        try:
            await scheduler.start()
        except LeaseLost:
            self.current = None
            return None
        except BaseException:
            self.current = None
            raise
        self.leading = True
        self._standby_logged = None
        self.on_change(scheduler)
        log.info("this instance leads the scheduler (lease %.0fs)", self.lease.seconds)
        return scheduler

    async def run(self, scheduler: Scheduler | None = None) -> None:
        """Lead while the lease holds, stand by otherwise, until cancelled.

        `scheduler` is one `try_lead` already started (the daemon does the first claim
        before it reports ready, so a lone daemon fires from its first second).
        """
        outage = Retry(self.store, "claiming the scheduler lease")
        try:
            while True:
                if scheduler is None:
                    try:
                        scheduler = await self.try_lead()
                        outage.succeeded()
                    except Exception as exc:
                        if not outage.failed(exc):
                            raise
                        await outage.wait()  # the database is away: try again soon
                        continue
                if scheduler is None:
                    await anyio.sleep(self.lease.seconds / 3)
                    continue
                try:
                    await self._lead(scheduler)
                except* LeaseLost:
                    log.warning("scheduler lease lost to another instance: standing by")
                self._step_down()
                scheduler = None
        finally:
            self._step_down()
            with anyio.move_on_after(_RELEASE_DEADLINE, shield=True):
                try:
                    await self.store.release_scheduler_lease(self.lease.holder)
                except Exception as exc:  # the lease then simply expires
                    log.warning("could not give the scheduler lease up: %s", exc)

    async def _lead(self, scheduler: Scheduler) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(scheduler.run)
            tg.start_soon(TriggerMonitor(scheduler).run)

    def _step_down(self) -> None:
        if self.current is not None or self.leading:
            self.current = None
            self.leading = False
            self.on_change(None)

    async def _log_standby(self) -> None:
        """Say once per holder who leads, not at every claim attempt."""
        try:
            holder = await self.store.scheduler_lease_holder()
        except Exception:
            return
        name = holder[0] if holder else "nobody"
        if name != self._standby_logged:
            self._standby_logged = name
            log.info("scheduler standing by: the lease is held by %s", name)
