"""Request size limits: a body over the limit is a 413, oversized headers a 431.

The body is counted as it streams in (a chunked upload has no Content-Length to check up
front), so a client can never make the daemon buffer more than the limit. The server in
front (uvicorn's h11 parser) already refuses headers past ~16 KB; the header check here
keeps the answer a JSON 4xx whatever server runs the app.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kestrad.api.errors import error_response

DEFAULT_BODY_LIMIT = 10 * 1024 * 1024
DEFAULT_HEADER_LIMIT = 64 * 1024


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
        headers = scope.get("headers") or []
        if sum(len(k) + len(v) for k, v in headers) > self.header_limit:
            response = error_response(431, "Request headers too large")
            await response(scope, receive, send)
            return
        declared = _content_length(headers)
        if declared is not None and declared > self.body_limit:
            response = error_response(413, self._too_large())
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.body_limit:
                    raise HTTPException(413, self._too_large())
            return message

        await self.app(scope, counting_receive, send)

    def _too_large(self) -> str:
        return f"Request body larger than {self.body_limit} bytes"


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
