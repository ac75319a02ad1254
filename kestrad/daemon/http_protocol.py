"""uvicorn's httptools protocol with a deadline for request headers.

uvicorn closes idle keep-alive connections (`timeout_keep_alive`) but gives a client
that connects and then sends its header one byte a minute all the time it wants: enough
such clients hold every connection slot (slowloris). Here a connection must deliver a
request's complete header within `header_timeout` of connecting or of starting that
request, or it is closed. Bodies are read by the application under its own limits.

Why a sweep and not a timer per request: the webhook is the hot path, and arming and
cancelling a timer for every request costs more than reading a clock. Each connection
only notes when its current header started; one sweep per second over the server's open
connections closes the late ones, so a late client is cut off within `header_timeout`
plus a second.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

SWEEP_INTERVAL = 1.0  # seconds between two looks at the open connections


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """HttpToolsProtocol closing connections whose request header is late."""

    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # loop.time() when the header now being awaited started; None once it is complete.
        self.header_since: float | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.header_since = self.loop.time()
        _ensure_sweep(self.loop, self.server_state, self.header_timeout)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.header_since = self.loop.time()

    def on_headers_complete(self) -> None:
        self.header_since = None
        super().on_headers_complete()


def _ensure_sweep(loop: asyncio.AbstractEventLoop, state: Any, timeout: float) -> None:
    """Arm the server's sweep unless it runs (one per server: `state` is uvicorn's
    ServerState, whose `connections` is every open connection's protocol)."""
    if not getattr(state, "header_sweep_armed", False):
        state.header_sweep_armed = True
        loop.call_later(SWEEP_INTERVAL, _sweep, loop, state, timeout)


def _sweep(loop: asyncio.AbstractEventLoop, state: Any, timeout: float) -> None:
    """Close the connections whose header is late; stop while none is open."""
    now = loop.time()
    for protocol in list(state.connections):
        since = getattr(protocol, "header_since", None)
        if since is not None and now - since > timeout:
            protocol.header_since = None
            cycle = protocol.cycle
            if cycle is None or cycle.response_complete:  # no request being answered
                protocol.transport.close()
    if state.connections:
        loop.call_later(SWEEP_INTERVAL, _sweep, loop, state, timeout)
    else:
        state.header_sweep_armed = False


def header_deadline_protocol(seconds: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class for uvicorn's `http=` with this header deadline."""
    return type("HeaderDeadline", (HeaderDeadlineProtocol,), {"header_timeout": seconds})
