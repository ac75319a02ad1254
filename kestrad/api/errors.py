"""Every error the API returns is JSON `{"message": ...}`, never a stack trace.

Handlers raise `ApiError` for the expected failures (bad input, unknown flow); Starlette's
own `HTTPException`s (unknown route, wrong method) get the same shape. Anything else is a
bug: `CatchAllMiddleware` logs it with its traceback server-side and answers a bare 500,
except a database outage, or a write refused because this instance was fenced (another
daemon took its work over), which answer 503 with Retry-After.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kestrad.api.responses import json_response
from kestrad.store.lease import Fenced
from kestrad.store.outage import describe, is_unavailable

log = logging.getLogger("kestrad.api")


class ApiError(Exception):
    """An expected failure: the status, a human message and optional extra JSON fields."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def error_response(status: int, message: str, **extra: Any) -> Response:
    return json_response({"message": message, **extra}, status=status)


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, **exc.extra)


_MESSAGES = {404: "no such route", 405: "Method not allowed"}


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else ""
    if not detail or detail == HTTPStatus(exc.status_code).phrase:  # Starlette's default
        detail = _MESSAGES.get(exc.status_code, detail or "error")
    response = error_response(exc.status_code, detail)
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ApiError: api_error_handler,
    HTTPException: http_error_handler,
}


class CatchAllMiddleware:
    """Turns an unexpected exception into a logged 500 with a JSON body.

    Starlette's ServerErrorMiddleware would answer too, but then re-raise, so the server
    prints a second traceback and test transports see an exception instead of a response.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            await answer_unexpected(exc, scope, receive, send, started=started)


async def answer_unexpected(
    exc: Exception, scope: Scope, receive: Receive, send: Send, *, started: bool
) -> None:
    """Answer an exception no handler took: a 503 with Retry-After for an outage or a
    fenced instance, nothing for a client that hung up, else a logged 500. `started`: the
    response head is already out, so only the log is left to do."""
    method, path = scope.get("method"), scope.get("path")
    if isinstance(exc, ClientDisconnect):
        # The client hung up before its body arrived: nobody to answer, nothing broken.
        log.info("%s %s: client disconnected mid-request", method, path)
        return
    if isinstance(exc, Fenced):
        # Another daemon took this one's work over; it is stopping (store/lease.py).
        log.info("%s %s: refused, this instance was fenced", method, path)
        if started:
            return
        response = error_response(503, str(exc))
        response.headers["Retry-After"] = "5"
        await response(scope, receive, send)
        return
    if is_unavailable(exc):
        # Not a bug: the database is away (the daemon's loops log the outage once).
        # 503 + Retry-After tells clients and load balancers to come back.
        log.info("%s %s: database unreachable", method, path)
        if started:
            return
        response = error_response(503, f"the database is unreachable: {describe(exc)}")
        response.headers["Retry-After"] = "5"
        await response(scope, receive, send)
        return
    log.exception("internal error on %s %s", method, path, exc_info=exc)
    if started:  # too late for a status: cut the response short
        return
    response = error_response(500, "internal error")
    await response(scope, receive, send)
