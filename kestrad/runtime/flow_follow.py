"""Flow changes made by other processes on the same store, taken into this one's FlowCache.

Several processes (`serve --processes N`, or several daemons on one PostgreSQL database)
share one store, and each keeps the flows it runs parsed in memory (`FlowCache`). A
process learns at once of the changes it makes itself; this follower is how it learns of
the others': every `FOLLOW_INTERVAL` it asks the store for the revisions written since its
last look (`flow_changes_since`: light rows without their sources, an index range scan on
`flows.updated`), so a poll costs the flows that changed, never all of them.

Why the window looks back `MARGIN` seconds before the previous poll started, rather than
from the newest stamp seen: a writer stamps `updated` before it commits, so a row can
become visible after rows stamped later (PostgreSQL commits concurrently; another daemon's
clock may be behind ours). Reading a row again is harmless: a row is applied only when it
is news to the cache (a higher revision, or the same one with other flags); missing one
would leave a process running a flow that was disabled or replaced elsewhere.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import anyio
import msgspec

from kestrad.model.state import iso_from_epoch
from kestrad.runtime.flow_cache import FlowCache
from kestrad.store.base import FlowChange, FlowKey, FlowRow, FlowStore
from kestrad.store.outage import Retry

log = logging.getLogger("kestrad.flows")

FOLLOW_INTERVAL = 0.5  # seconds between polls: other processes' changes show within it
MARGIN = 60.0  # seconds each window reaches back before the previous poll's start


class FlowFollower:
    """Polls the store for flow revisions changed since the last poll and applies the new
    ones to `flows`, calling `on_change` once for each (as `Engine.flow_saved` does for a
    change made in this process: the scheduler indexes the flow's triggers).

    A change this process made itself is no news once remembered; a poll that reads it
    between its commit and `remember` announces it too, and listeners take a repeat as
    the same change (they index what the cache holds)."""

    def __init__(
        self,
        store: FlowStore,
        flows: FlowCache,
        on_change: Callable[[FlowRow], None],
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.flows = flows
        self.on_change = on_change
        self.now = now
        # The first window starts before this follower did: the cache was loaded about then
        # (`FlowCache.load_all`), and a row committed since may bear an earlier stamp.
        self._since = now() - MARGIN
        # Revisions whose source does not load here (a task type this process lacks, say a
        # plugin another daemon has): warned once, then skipped without fetching them again.
        self._unloadable: set[FlowKey] = set()

    async def run(self, interval: float = FOLLOW_INTERVAL) -> None:
        """Poll, then sleep `interval`, until cancelled.

        A database outage is reported once for the whole daemon (store/outage.py) and the
        next poll simply tries again: the window only moves on after a poll that read it,
        so nothing changed during the outage is missed. Any other failure is logged and
        the loop goes on: a stale cache must not stop the daemon."""
        retry = Retry(self.store, "following flow changes")
        while True:
            try:
                await self.poll_once()
            except Exception as exc:
                if retry.failed(exc):
                    await retry.wait()  # back-off, cut short when the database answers
                    continue
                log.exception("flows: following other processes' changes failed; retrying")
            else:
                retry.succeeded()
            await anyio.sleep(interval)

    async def poll_once(self) -> list[FlowRow]:
        """Apply the changes written since the last window; returns the rows applied.

        The next window starts `MARGIN` before this poll's start, and only once every
        change read was handled: a poll that fails part way is read again whole (the rows
        already applied are no longer news then)."""
        started = self.now()
        changes = await self.store.flow_changes_since(iso_from_epoch(self._since))
        # Per flow, only its highest revision can be news: intermediate revisions saved
        # between two polls are neither fetched nor announced.
        highest: dict[tuple[str, str], FlowChange] = {}
        for change in changes:
            kept = highest.get((change.namespace, change.id))
            if kept is None or change.revision > kept.revision:
                highest[(change.namespace, change.id)] = change
        applied: list[FlowRow] = []
        for change in highest.values():
            row = await self._apply(change)
            if row is not None:
                applied.append(row)
        self._since = started - MARGIN
        return applied

    async def _apply(self, change: FlowChange) -> FlowRow | None:
        """Remember `change` in the cache if it is news, and tell `on_change`."""
        key = (change.namespace, change.id, change.revision)
        cached = self.flows.latest_row(change.namespace, change.id)
        if key in self._unloadable or not _is_news(change, cached):
            return None
        row = await self._full_row(change, cached)
        if row is None:
            return None
        try:
            self.flows.remember(row)
        except Exception as exc:  # its source no longer loads: keep what the cache has
            self._unloadable.add(key)
            log.warning(
                "flows: %s/%s revision %d changed in the store but does not load here; "
                "this process keeps what it had (%s)",
                *key,
                exc,
            )
            return None
        try:
            self.on_change(row)
        except Exception:  # one listener's bug must not hold back other flows' changes
            log.exception("flows: a listener failed on the change of %s/%s", *key[:2])
        return row

    async def _full_row(self, change: FlowChange, cached: FlowRow | None) -> FlowRow | None:
        """The row `change` describes, with its source.

        When the cache's latest row is this very revision (parsed already), only flags or
        the file changed: the row is rebuilt from it and no source travels. Otherwise the
        revision is read from the store (once: it is then the cache's latest row)."""
        if cached is not None and cached.revision == change.revision and cached.hash == change.hash:
            return msgspec.structs.replace(
                cached, disabled=change.disabled, deleted=change.deleted, file=change.file
            )
        # None: the row went away since the poll read it (flows are never deleted by kestrad)
        return await self.store.get_flow(change.namespace, change.id, change.revision)


def _is_news(change: FlowChange, cached: FlowRow | None) -> bool:
    """Whether `change` says more than the cache's latest row of its flow: a higher
    revision (or none cached), or the same revision with other flags, file or hash. A lower
    revision never replaces a higher one, whatever their stamps."""
    if cached is None or change.revision > cached.revision:
        return True
    if change.revision < cached.revision:
        return False
    return (change.disabled, change.deleted, change.file, change.hash) != (
        cached.disabled,
        cached.deleted,
        cached.file,
        cached.hash,
    )
