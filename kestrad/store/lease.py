"""This daemon's lease on its place in a cluster, and the fence that ends it.

Every daemon heartbeats its `service_instance` row; another daemon's liveness checker
marks a row silent for `liveness.timeout` DISCONNECTED and hands its jobs out again. A
daemon that was only frozen (SIGSTOP, a stalled VM, a long GC pause) wakes up believing
it still owns those jobs: if it committed their results, each would end twice. So:

- the checker fences the instance it disconnects: it terminates that instance's
  PostgreSQL sessions (found by their `application_name`, `kestrad/<instance id>`),
  which rolls back whatever it had in flight, before it hands its jobs out;
- a heartbeat updates only a RUNNING row: a DISCONNECTED one is never revived, and its
  owner learns from the update that it lost its lease;
- before every commit, a write checks the lease. Renewed within half the liveness
  timeout, nobody can have disconnected this instance yet, and the check is free.
  Older (the daemon was frozen, or the database away), the transaction first confirms
  the row is still RUNNING, and holds that row locked until its commit, so the checker
  (which skips locked rows) cannot disconnect it meanwhile. A lost lease refuses the
  commit, and the daemon stops with a message saying why (systemd restarts it as a new
  instance).

A transaction frozen between that check and its commit is covered by the first point:
the checker terminates its session before it hands anything out, so the commit fails.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import NoReturn


class Fenced(Exception):
    """Another daemon declared this one dead and took over its jobs: it must stop."""


class Lease:
    """Renewed by heartbeats; `fresh` while no other daemon can have disconnected us."""

    def __init__(
        self, instance_id: str, timeout: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.instance_id = instance_id
        self.timeout = timeout
        self.clock = clock
        self.renewed = clock()
        self.lost: str | None = None
        self._lost = asyncio.Event()

    @property
    def application_name(self) -> str:
        """The name this instance's PostgreSQL sessions carry, by which they are fenced."""
        return application_name(self.instance_id)

    def fresh(self) -> bool:
        """Renewed within half the timeout: no checker can judge this instance silent yet
        (it waits a whole timeout), even with a few seconds of clock skew between hosts."""
        return self.lost is None and self.clock() - self.renewed < self.timeout / 2

    def renew(self, since: float) -> None:
        """A heartbeat sent at `since` (this lease's clock) found the row RUNNING."""
        self.renewed = max(self.renewed, since)

    def lose(self, why: str) -> Fenced:
        """Record that the lease is gone; returns the error to raise."""
        if self.lost is None:
            self.lost = why
            self._lost.set()
        return Fenced(self.lost)

    def check(self) -> None:
        if self.lost is not None:
            raise Fenced(self.lost)

    async def wait_lost(self) -> NoReturn:
        """Return never; raise Fenced once the lease is lost (the engine's task group
        runs this, so a lost lease stops the daemon)."""
        await self._lost.wait()
        raise Fenced(self.lost)


def application_name(instance_id: str) -> str:
    """`kestrad/<instance id>`, cut to PostgreSQL's 63 bytes as the server would."""
    return f"kestrad/{instance_id}".encode()[:63].decode(errors="ignore")


DISCONNECTED = (
    "instance {id} was declared dead by another daemon (no heartbeat within "
    "liveness.timeout, e.g. while frozen) and its jobs were handed out: stopping without "
    "committing anything more, so that no job ends twice; a restart joins as a new instance"
)
