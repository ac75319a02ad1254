"""Adaptive re-poll: poll again at once while polls return work, back off when idle.

A wake-up event (set when this process publishes) cuts the back-off short; correctness
never depends on it, the timed poll is the guarantee.
"""

from __future__ import annotations

import asyncio
import contextlib
import time


class Backoff:
    """The wait before the next poll: min → doubling → max while idle, reset on work."""

    def __init__(self, min_interval: float, max_interval: float) -> None:
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.current = min_interval

    def reset(self) -> None:
        self.current = self.min_interval

    async def wait(self, wake: asyncio.Event, *, due: float | None = None) -> None:
        """Sleep for the current back-off (or until `due`, or until woken), then double it."""
        timeout = self.current
        if due is not None:
            timeout = min(timeout, max(due - time.time(), 0.0))
        if timeout > 0 and not wake.is_set():
            # asyncio.timeout, not wait_for: wait_for wraps the wait in a task of its own
            # on every call, and the consumers wait here once per batch.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await wake.wait()
        wake.clear()
        self.current = min(self.current * 2, self.max_interval)
