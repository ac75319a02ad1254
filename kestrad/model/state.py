"""Kestra's states and their history, shared by executions, task runs and attempts."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import msgspec

CREATED = "CREATED"
SUBMITTED = "SUBMITTED"
RUNNING = "RUNNING"
PAUSED = "PAUSED"
RESTARTED = "RESTARTED"
KILLING = "KILLING"
SUCCESS = "SUCCESS"
WARNING = "WARNING"
FAILED = "FAILED"
KILLED = "KILLED"
CANCELLED = "CANCELLED"
QUEUED = "QUEUED"
RETRYING = "RETRYING"
RETRIED = "RETRIED"
SKIPPED = "SKIPPED"
# An attempt lost with its worker (the daemon died, or stopped, while it ran): the job went
# out again as the next attempt. Attempts only, as in Kestra.
RESUBMITTED = "RESUBMITTED"

ALL_STATES = (
    CREATED,
    SUBMITTED,
    RUNNING,
    PAUSED,
    RESTARTED,
    KILLING,
    SUCCESS,
    WARNING,
    FAILED,
    KILLED,
    CANCELLED,
    QUEUED,
    RETRYING,
    RETRIED,
    SKIPPED,
    RESUBMITTED,
)
TERMINATED = frozenset({SUCCESS, WARNING, FAILED, KILLED, CANCELLED, RETRIED, SKIPPED})
# An attempt's end states: an execution or a task run is never RESUBMITTED.
ATTEMPT_ENDED = TERMINATED | {RESUBMITTED}
FAILED_LIKE = frozenset({FAILED, KILLED})


_second: int = -1
_prefix: str = ""


def now_iso() -> str:
    """The current instant as Kestra writes it: ISO-8601 UTC with microseconds and `Z`."""
    return iso_from_epoch(time.time())


def iso_from_epoch(moment: float) -> str:
    """`moment` (epoch seconds) as Kestra writes instants, e.g. `2024-05-01T10:00:00.250000Z`.

    Called for every state change; the date-time part is formatted once per second.
    """
    global _second, _prefix
    second = int(moment)
    if second != _second:
        _prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second = second
    return f"{_prefix}.{int((moment - second) * 1_000_000):06d}Z"


def parse_iso(text: str) -> datetime:
    """Inverse of `now_iso` (also accepts offsets)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class History(msgspec.Struct, kw_only=True):
    """One entry of a state history: the state entered and when."""

    state: str
    date: str


class StateInfo(msgspec.Struct, kw_only=True, rename="camel"):
    """The current state and every state entered before it, oldest first.

    Setting the state it already has is a no-op (no new history entry), as in Kestra.
    """

    current: str = CREATED
    histories: list[History] = msgspec.field(default_factory=list)

    @classmethod
    def new(cls, state: str = CREATED, date: str | None = None) -> StateInfo:
        return cls(current=state, histories=[History(state=state, date=date or now_iso())])

    def set(self, state: str, date: str | None = None) -> bool:
        """Move to `state`; returns False when it was already there.

        Unchecked on purpose: one StateInfo type serves executions, task runs and attempts,
        whose allowed changes differ, and the model layer cannot see the rules. The
        executor changes states only through `runtime.transitions.move`, which checks them
        (and passes `date` from its own clock); direct calls are for building histories.
        """
        if state == self.current and self.histories:
            return False
        self.current = state
        self.histories.append(History(state=state, date=date or now_iso()))
        return True

    @property
    def terminated(self) -> bool:
        return self.current in TERMINATED

    @property
    def start_date(self) -> str | None:
        return self.histories[0].date if self.histories else None

    @property
    def end_date(self) -> str | None:
        if self.current in ATTEMPT_ENDED or self.current == PAUSED:
            return self.histories[-1].date if self.histories else None
        return None

    def duration_seconds(self) -> float:
        """Last history date minus first (or now while still running), in seconds."""
        if not self.histories:
            return 0.0
        end = self.end_date
        last = parse_iso(end) if end else datetime.now(UTC)
        return max((last - parse_iso(self.histories[0].date)).total_seconds(), 0.0)

    def has(self, state: str) -> bool:
        return any(h.state == state for h in self.histories)
