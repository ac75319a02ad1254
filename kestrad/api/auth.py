"""HTTP basic auth, when `server.basic_auth.username` is set.

Open without credentials: exactly the routes whose endpoint is in `open_endpoints` — the
webhook (its key is the secret, as in Kestra's default `open-urls`) and `/health` (load
balancers and systemd probes). Everything else, unknown paths included, answers 401.

Why the decision is made on the route and not on the path: a path pattern is a second
router that can disagree with the real one. `^/api/v1/executions/webhook/` as a prefix
also matched `POST /api/v1/main/executions/webhook/{id}`, which the router sends to
"create an execution of flow {id} in namespace `webhook`", and `GET
/executions/webhook`, an execution whose id is `webhook`. Here the middleware walks the
app's own routes the way Starlette's router does and opens the request only when the
route that will answer it is an open one, for that method.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable, Collection, Sequence

from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from kestrad.api.errors import error_response

Endpoint = Callable[..., object]


def route_for(routes: Sequence[BaseRoute], scope: Scope) -> BaseRoute | None:
    """The route Starlette's router dispatches this request to, or None (404/405).

    Same walk as `Router.app`: the first full match wins, Mounts are entered with their
    child scope. A path that only matches another method (a 405) has no route here.
    """
    for route in routes:
        match, child = route.matches(scope)
        if match != Match.FULL:
            continue
        if isinstance(route, Mount):
            return route_for(route.routes, {**scope, **child})
        return route
    return None


class BasicAuthMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        username: str,
        password: str,
        routes: Callable[[], Sequence[BaseRoute]],
        open_endpoints: Collection[Endpoint],
        realm: str = "kestrad",
    ) -> None:
        """`routes` returns the app's routes (read at request time: the app is built after
        its middleware); `open_endpoints` are the endpoints answered without credentials."""
        self.app = app
        self.expected = f"{username}:{password}".encode()
        self.challenge = challenge(realm)
        self.routes = routes
        self.open_endpoints = frozenset(open_endpoints)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = scope.get("headers") or []
        if scope["type"] != "http" or self._open(scope) or authorized(headers, self.expected):
            await self.app(scope, receive, send)
            return
        await unauthorized(self.challenge)(scope, receive, send)

    def _open(self, scope: Scope) -> bool:
        route = route_for(self.routes(), scope)
        return isinstance(route, Route) and route.endpoint in self.open_endpoints


def challenge(realm: str = "kestrad") -> str:
    return f'Basic realm="{realm}", charset="UTF-8"'


def unauthorized(www_authenticate: str) -> Response:
    response = error_response(401, "Unauthorized")
    response.headers["WWW-Authenticate"] = www_authenticate
    return response


def authorized(headers: list[tuple[bytes, bytes]], expected: bytes) -> bool:
    """The first Authorization header carries Basic credentials equal to `expected`
    (`user:password`)."""
    for name, value in headers:
        if name != b"authorization":
            continue
        scheme, _, token = value.partition(b" ")
        if scheme.lower() != b"basic":
            return False
        try:
            given = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        return secrets.compare_digest(given, expected)
    return False
