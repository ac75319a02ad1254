"""HTTP basic auth, when `server.basic_auth.username` is set.

Webhooks stay open (their key is the secret, as in Kestra's default `open-urls`), and so
does `/health`, which load balancers and systemd probes call without credentials.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets

from starlette.types import ASGIApp, Receive, Scope, Send

from kestrad.api.errors import error_response

_OPEN = re.compile(r"^(/health$|/api/v1/(main/)?executions/webhook/)")


def is_open_path(path: str) -> bool:
    return _OPEN.match(path) is not None


class BasicAuthMiddleware:
    def __init__(self, app: ASGIApp, *, username: str, password: str, realm: str = "kestrad"):
        self.app = app
        self.expected = f"{username}:{password}".encode()
        self.challenge = f'Basic realm="{realm}", charset="UTF-8"'

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_open_path(scope["path"]) or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        response = error_response(401, "Unauthorized")
        response.headers["WWW-Authenticate"] = self.challenge
        await response(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        for name, value in scope.get("headers") or []:
            if name != b"authorization":
                continue
            scheme, _, token = value.partition(b" ")
            if scheme.lower() != b"basic":
                return False
            try:
                given = base64.b64decode(token.strip(), validate=True)
            except (binascii.Error, ValueError):
                return False
            return secrets.compare_digest(given, self.expected)
        return False
