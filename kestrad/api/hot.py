"""The hot routes, answered without Starlette's middleware chain and router.

Under load nearly every request is a webhook call or `POST executions/{namespace}/{id}`.
Through the full app each one crosses five middleware layers (each wrapping `send`),
the router's walk over a hundred routes (twice with basic auth on, which asks the router
which route will answer), and Starlette's exception wrappers: more CPU than the handler.
`HotRoutes` recognises these two paths with a prefix test and a split, applies the checks
the middleware would apply, in the same order (header size 431, declared body size 413,
basic auth 401, cross-site write 403, body counted as it streams 413), calls the very
same endpoint, and answers its exceptions with the app's own exception handlers and
`answer_unexpected` (503 during an outage, 500 otherwise), as `CatchAllMiddleware` does.

It never decides routing on its own: a request it is not sure about goes to Starlette
unchanged — a HEAD, a path with a newline (the router's `.*` stops at one), a segment
equal to a literal word of any route (`by-ids`, `resume`, `webhook`, ...: only these can
make another route answer first), or a route whose sample paths the app's router sends
elsewhere when the app is built (`HotRoutes.build`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Receive, Scope, Send

from kestrad.api.auth import authorized, challenge, route_for, unauthorized
from kestrad.api.csrf import SAFE_METHODS, cross_site_refusal, same_origin
from kestrad.api.errors import answer_unexpected
from kestrad.api.limits import CountingReceive, refused_by_size

Endpoint = Callable[[Request], Awaitable[Response]]
Handler = Callable[[Request, Exception], Awaitable[Response]]

# The tenant prefix and the older tenant-less one (api/app.py mounts the routes on both).
_PREFIXES = ("/api/v1/main/executions/", "/api/v1/executions/")
_WEBHOOK_METHODS = frozenset({"GET", "POST", "PUT"})


class HotRequest(Request):
    """A Request whose `body()` reads `receive` in a plain loop: Starlette's goes through
    an async generator (`stream()`), several times the cost for a body of one message."""

    async def body(self) -> bytes:
        if not hasattr(self, "_body"):
            if self._stream_consumed:
                raise RuntimeError("Stream consumed")
            chunks: list[bytes] = []
            while True:
                message = await self._receive()
                if message["type"] == "http.request":
                    chunk = message.get("body", b"")
                    if chunk:
                        chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
                elif message["type"] == "http.disconnect":
                    self._is_disconnected = True
                    raise ClientDisconnect()
            self._stream_consumed = True
            self._body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return self._body


class HotRoute:
    """One hot endpoint and what the middleware would check before it."""

    __slots__ = ("any_origin", "endpoint", "open")

    def __init__(self, endpoint: Endpoint, *, open: bool, any_origin: bool) -> None:
        self.endpoint = endpoint
        self.open = open  # answered without credentials (api/auth.py)
        self.any_origin = any_origin  # exempt from the same-origin check (api/csrf.py)


class HotRoutes:
    def __init__(
        self,
        *,
        webhook: HotRoute | None,
        create: HotRoute | None,
        words: frozenset[str],
        handlers: dict[Any, Handler],
        body_limit: int,
        header_limit: int,
        credentials: bytes | None,
        same_origin_writes: bool,
    ) -> None:
        self.webhook = webhook
        self.create = create
        self.words = words
        self.handlers = handlers
        self.body_limit = body_limit
        self.header_limit = header_limit
        self.credentials = credentials
        self.challenge = challenge()
        self.same_origin_writes = same_origin_writes

    @classmethod
    def build(
        cls,
        routes: list[BaseRoute],
        *,
        webhook: Endpoint,
        create: Endpoint,
        open_endpoints: Iterable[object],
        handlers: dict[Any, Handler],
        body_limit: int,
        header_limit: int,
        credentials: bytes | None,
        same_origin_writes: bool,
    ) -> HotRoutes:
        """The hot routes of an app with these `routes`; each is kept only if the app's
        router sends its sample requests to it (otherwise Starlette serves it)."""
        opened = frozenset(open_endpoints)
        words = frozenset(_literal_words(routes))
        hooks = HotRoute(webhook, open=webhook in opened, any_origin=True)
        creates = HotRoute(create, open=create in opened, any_origin=False)
        webhook_samples = [
            (method, f"{prefix}webhook/n.s/f-1/{key}")
            for prefix in _PREFIXES
            for method in _WEBHOOK_METHODS
            for key in ("k", "", "a/b")
        ]
        create_samples = [("POST", f"{prefix}n.s/f-1") for prefix in _PREFIXES]
        return cls(
            webhook=hooks if _routed_to(routes, webhook, webhook_samples) else None,
            create=creates if _routed_to(routes, create, create_samples) else None,
            words=words,
            handlers=handlers,
            body_limit=body_limit,
            header_limit=header_limit,
            credentials=credentials,
            same_origin_writes=same_origin_writes,
        )

    def match(self, scope: Scope) -> tuple[HotRoute, dict[str, str]] | None:
        """The hot route and its path parameters, or None: the full app answers."""
        path: str = scope["path"]
        if path.startswith("/api/v1/main/executions/"):
            rest = path[24:]
        elif path.startswith("/api/v1/executions/"):
            rest = path[19:]
        else:
            return None
        if "\n" in path or scope.get("root_path"):
            return None
        method = scope["method"]
        words = self.words
        first, _, tail = rest.partition("/")
        if first == "webhook":
            if self.webhook is None or method not in _WEBHOOK_METHODS:
                return None
            namespace, _, tail = tail.partition("/")
            flow_id, slash, key = tail.partition("/")
            if not (slash and namespace and flow_id) or namespace in words or flow_id in words:
                return None
            return self.webhook, {"namespace": namespace, "id": flow_id, "key": key}
        if (
            method == "POST"
            and self.create is not None
            and first
            and tail
            and "/" not in tail
            and first not in words
            and tail not in words
        ):
            return self.create, {"namespace": first, "id": tail}
        return None

    async def serve(
        self,
        route: HotRoute,
        params: dict[str, str],
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        headers = scope["headers"]
        refusal = refused_by_size(headers, self.body_limit, self.header_limit)
        if refusal is None:
            refusal = self._refusal(route, scope, headers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        scope["path_params"] = params
        request = HotRequest(scope, CountingReceive(receive, self.body_limit))
        started = False
        try:
            try:
                response = await route.endpoint(request)
            except Exception as exc:
                handler = self._handler(exc)
                if handler is None:
                    raise
                response = await handler(request, exc)
            if response.background is None and type(response).__call__ is Response.__call__:
                await send(
                    {
                        "type": "http.response.start",
                        "status": response.status_code,
                        "headers": response.raw_headers,
                    }
                )
                started = True
                await send({"type": "http.response.body", "body": response.body})
            else:
                started = True
                await response(scope, receive, send)
        except Exception as exc:
            await answer_unexpected(exc, scope, receive, send, started=started)

    def _refusal(
        self, route: HotRoute, scope: Scope, headers: list[tuple[bytes, bytes]]
    ) -> Response | None:
        """The 401 or 403 the auth and same-origin middleware would answer, if any."""
        if (
            self.credentials is not None
            and not route.open
            and not authorized(headers, self.credentials)
        ):
            return unauthorized(self.challenge)
        if (
            self.same_origin_writes
            and not route.any_origin
            and scope["method"] not in SAFE_METHODS
            and not same_origin(scope)
        ):
            return cross_site_refusal()
        return None

    def _handler(self, exc: Exception) -> Handler | None:
        """The app's handler for `exc`, looked up along its classes as Starlette does."""
        for kind in type(exc).__mro__:
            handler = self.handlers.get(kind)
            if handler is not None:
                return handler
        return None


def _literal_words(routes: Iterable[BaseRoute]) -> Iterable[str]:
    """Every fixed path segment of every route: the only segments for which a route
    other than a hot one can match a hot route's path."""
    for route in routes:
        if isinstance(route, Route | Mount):
            for segment in route.path.split("/"):
                if segment and "{" not in segment:
                    yield segment
        if isinstance(route, Mount):
            yield from _literal_words(route.routes)


def _routed_to(routes: list[BaseRoute], endpoint: Endpoint, samples: list[tuple[str, str]]) -> bool:
    """The router sends each (method, path) sample to `endpoint`."""
    for method, path in samples:
        scope: Scope = {"type": "http", "method": method, "path": path, "root_path": ""}
        route = route_for(routes, scope)
        if not (isinstance(route, Route) and route.endpoint is endpoint):
            return False
    return True
