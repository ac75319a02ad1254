"""Retry policies: Kestra's `retry` block, shared by tasks and flows.

Kept in `model/` because both the loader (validation) and the executor (scheduling the next
attempt) need it, and neither should import the other.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Literal

import msgspec

from kestrad.model.durations import parse_duration


class Retry(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """`retry: {type: constant|exponential|random, maxAttempts, maxDuration, …}`.

    `maxAttempts` counts every attempt, the first included (Kestra: maxAttempts 3 → 3 runs).
    Kestra 1.x renamed it from `maxAttempt`, which stays accepted as its deprecated alias.
    """

    type: Literal["constant", "exponential", "random"]
    max_attempts: int | None = None
    max_attempt: int | None = None
    max_duration: str | None = None
    interval: str | None = None
    max_interval: str | None = None
    min_interval: str | None = None
    delay_factor: float | None = None
    warning_on_retry: bool = False
    behavior: Literal["RETRY_FAILED_TASK", "CREATE_NEW_EXECUTION"] = "RETRY_FAILED_TASK"

    @property
    def attempts_limit(self) -> int | None:
        """`maxAttempts`, or the deprecated `maxAttempt` when only that one is given."""
        return self.max_attempts if self.max_attempts is not None else self.max_attempt

    def next_delay(self, attempts_done: int) -> timedelta:
        """Delay before attempt `attempts_done + 1`, counted from the end of the last one."""
        if self.type == "constant":
            return parse_duration(self.interval or "PT0S")
        if self.type == "exponential":
            base = parse_duration(self.interval or "PT1S")
            factor = self.delay_factor or 2.0
            delay = base * (factor ** max(attempts_done - 1, 0))
            if self.max_interval is not None:
                delay = min(delay, parse_duration(self.max_interval))
            return delay
        low = parse_duration(self.min_interval or "PT0S")
        high = parse_duration(self.max_interval or self.min_interval or "PT1S")
        span = max((high - low).total_seconds(), 0.0)
        return low + timedelta(seconds=random.uniform(0, span))

    def allows(self, attempts_done: int, elapsed: timedelta, delay: timedelta) -> bool:
        """True when one more attempt fits inside `maxAttempts` and `maxDuration`."""
        limit = self.attempts_limit
        if limit is not None and attempts_done >= limit:
            return False
        if self.max_duration is not None and elapsed + delay > parse_duration(self.max_duration):
            return False
        return limit is not None or self.max_duration is not None
