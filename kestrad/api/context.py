"""What every handler needs: the engine, settings, metrics, the webhook index, open streams.

One `ApiContext` per app, kept in `app.state.api`. Long-lived streams register a wake-up
event here so the daemon can close them all (each with a final event) before it stops
accepting connections, instead of waiting on clients that never hang up.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from starlette.requests import Request

from kestrad.api.batching import CreationBatcher
from kestrad.config import Config
from kestrad.runtime.engine import Engine

if TYPE_CHECKING:
    from kestrad.api.metrics import ApiMetrics
    from kestrad.api.webhooks import WebhookIndex


class ApiContext:
    def __init__(
        self,
        engine: Engine,
        config: Config,
        *,
        metrics: ApiMetrics,
        webhooks: WebhookIndex,
        body_limit: int = 10 * 1024 * 1024,
        heartbeat: float = 15.0,
        poll_interval: float = 1.0,
        follow_wait: float = 10.0,
    ) -> None:
        self.engine = engine
        self.config = config
        self.creations = CreationBatcher(engine)
        self.metrics = metrics
        self.webhooks = webhooks
        self.body_limit = body_limit
        # SSE: comment line after this many idle seconds; store re-check period (the hub's
        # in-process notifications are a hint, the store the truth); how long a follow
        # waits for an execution that does not exist yet.
        self.heartbeat = heartbeat
        self.poll_interval = poll_interval
        self.follow_wait = follow_wait
        self.closing = False
        self._streams: set[asyncio.Event] = set()

    def open_stream(self) -> asyncio.Event:
        wake = asyncio.Event()
        self._streams.add(wake)
        return wake

    def close_stream(self, wake: asyncio.Event) -> None:
        self._streams.discard(wake)

    def close_streams(self) -> None:
        """Ask every open stream to send its final event and end (daemon shutdown)."""
        self.closing = True
        for wake in list(self._streams):
            wake.set()

    @property
    def open_streams(self) -> int:
        return len(self._streams)


def api(request: Request) -> ApiContext:
    return request.app.state.api


async def wait_for(event: asyncio.Event, timeout: float) -> bool:
    """Wait for `event` (then clear it) at most `timeout` seconds; True when it was set."""
    if not event.is_set():
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
    event.clear()
    return True
