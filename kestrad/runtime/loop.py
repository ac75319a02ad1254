"""Starts the event loop the one way the project does: anyio on asyncio with uvloop."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio

T = TypeVar("T")


def run_async(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """`anyio.run(fn, *args)` on asyncio, with uvloop where it is installed."""
    use_uvloop = sys.platform != "win32"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        use_uvloop = False
    return anyio.run(fn, *args, backend="asyncio", backend_options={"use_uvloop": use_uvloop})
