"""Writes from another site refused: the web UI's browser holds the API's credentials.

Once a browser has answered the basic-auth challenge for the UI it sends those credentials
with every request to this origin, whichever page asked for it. A form on another site
could then create executions or kill them. Browsers say where a request comes from
(`Sec-Fetch-Site`, and `Origin` on every cross-origin write), and a page cannot forge
either, so a write (anything but GET, HEAD, OPTIONS) that says it comes from another
origin is answered 403. Clients that are not browsers (curl, SDKs, the CLI) send neither
header and are not affected. Webhooks stay open to every caller: their key is the secret.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from kestrad.api.errors import error_response

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SameOriginWrites:
    def __init__(self, app: ASGIApp, *, exempt: Callable[[Scope], bool]) -> None:
        """`exempt(scope)` is true for requests any site may send (the webhook route)."""
        self.app = app
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS or same_origin(scope):
            await self.app(scope, receive, send)
            return
        if self.exempt(scope):
            await self.app(scope, receive, send)
            return
        await cross_site_refusal()(scope, receive, send)


def cross_site_refusal() -> Response:
    return error_response(403, "Cross-site request refused: send it from this origin")


def same_origin(scope: Scope) -> bool:
    """`Sec-Fetch-Site` when the browser sends it (it knows; a proxy that rewrites `Host`
    does not fool it), else `Origin` against `Host`."""
    headers = {name: value for name, value in scope.get("headers") or []}
    site = headers.get(b"sec-fetch-site", b"").decode("latin-1").lower()
    if site in ("same-origin", "none"):  # none: typed in the address bar
        return True
    if site:
        return False  # cross-site, same-site (another subdomain), or unknown
    origin = headers.get(b"origin", b"").decode("latin-1")
    if not origin:
        return True  # not a browser, or a same-origin form of an old browser
    if origin == "null":
        return False  # sandboxed frames, file:// pages, cross-origin redirects
    host = headers.get(b"host", b"").decode("latin-1").lower()
    return urlsplit(origin).netloc.lower() == host
