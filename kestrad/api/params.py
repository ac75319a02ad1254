"""Reading what a request carries (JSON or text body, query flags and numbers), with 400s.

Each helper turns a malformed value into an `ApiError` naming the parameter, so handlers
never see a half-parsed request and never fail with a 500 on bad input.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request

from kestrad.api.errors import ApiError


async def read_json(request: Request) -> Any:
    """The body as JSON (absent → None); malformed JSON is a 400 naming the problem."""
    body = await request.body()
    if not body.strip():
        return None
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise ApiError(400, f"Invalid JSON body: {exc}") from None


async def read_text(request: Request) -> str:
    """The body as UTF-8 text; undecodable bytes are a 400."""
    body = await request.body()
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "The body must be UTF-8 text") from None


def query_flag(request: Request, name: str, default: bool = False) -> bool:
    """`?wait=true` style flags; anything but true/false is a 400."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ApiError(400, f"Query parameter `{name}` must be true or false, not `{raw}`")


def query_int(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"Query parameter `{name}` must be an integer, not `{raw}`") from None
    if not low <= value <= high:
        raise ApiError(400, f"Query parameter `{name}` must be between {low} and {high}")
    return value


def check_params(request: Request, allowed: frozenset[str] | set[str]) -> None:
    """A 400 naming the first query parameter the route does not know (`filters[…]` are
    checked by `query_filters`): a misspelled parameter must not be silently ignored."""
    for name in request.query_params:
        if name not in allowed and not name.startswith("filters["):
            known = ", ".join(sorted(allowed)) or "none"
            raise ApiError(400, f"Unknown query parameter `{name}` (this route takes: {known})")
