"""Request size limits: a body over the limit is a 413, oversized headers a 431.

The body is counted as it streams in (a chunked upload has no Content-Length to check up
front), so a client can never make the daemon buffer more than the limit. The server in
front (uvicorn's h11 parser) already refuses headers past ~16 KB; the header check here
keeps the answer a JSON 4xx whatever server runs the app.

The checks are functions as well as a middleware: the hot routes (api/hot.py) skip the
middleware chain and apply the same checks themselves.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kestrad.api.errors import error_response

DEFAULT_BODY_LIMIT = 10 * 1024 * 1024
DEFAULT_HEADER_LIMIT = 64 * 1024

Headers = list[tuple[bytes, bytes]]


class LimitsMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        body_limit: int = DEFAULT_BODY_LIMIT,
        header_limit: int = DEFAULT_HEADER_LIMIT,
    ) -> None:
        self.app = app
        self.body_limit = body_limit
        self.header_limit = header_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = refused_by_size(scope.get("headers") or [], self.body_limit, self.header_limit)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, CountingReceive(receive, self.body_limit), send)


def refused_by_size(headers: Headers, body_limit: int, header_limit: int) -> Response | None:
    """The 431 (headers too large) or 413 (declared body too large) a request's header
    alone earns; None when it may go on."""
    size = 0
    declared: bytes | None = None
    for name, value in headers:
        size += len(name) + len(value)
        if declared is None and name == b"content-length":
            declared = value
    if size > header_limit:
        return error_response(431, "Request headers too large")
    if declared is not None:
        try:
            too_large = int(declared) > body_limit
        except ValueError:
            too_large = False
        if too_large:
            return error_response(413, _too_large(body_limit))
    return None


class CountingReceive:
    """`receive` raising a 413 once the body read so far passes the limit."""

    __slots__ = ("limit", "receive", "received")

    def __init__(self, receive: Receive, limit: int) -> None:
        self.receive = receive
        self.limit = limit
        self.received = 0

    async def __call__(self) -> Message:
        message = await self.receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                raise HTTPException(413, _too_large(self.limit))
        return message


def _too_large(limit: int) -> str:
    return f"Request body larger than {limit} bytes"
