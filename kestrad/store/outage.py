"""Database outages: which errors mean "the database is unreachable", one record per store
of whether it currently is, and the capped back-off the loops wait between attempts.

Why one shared record: a PostgreSQL restart makes every loop of a daemon fail at once
(executor, worker, heartbeat, liveness, retention, scheduler, LISTEN). A traceback per
loop per poll buries the one fact that matters, so the first failure logs one WARNING,
the first success after it one INFO, and `GET /health` reads the same record. Loops keep
what they hold in memory and try again; nothing is dropped (see the worker's outbox and
the executor's batch, which is one transaction: a failed commit is simply retried).

Only errors that say the connection or the server is gone count; any other error (a bug,
a constraint) still surfaces where it did before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import sys
import time
import weakref
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("kestrad.store")

FIRST_DELAY = 0.1  # seconds before the first retry
MAX_DELAY = 5.0  # the delay doubles up to this

# OSError subclasses about local files (a storage folder, a flows file): not an outage.
_FILE_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)
# PostgreSQL errors that say the server or the connection is gone (class 08, shutdowns,
# "starting up", "too many connections", a session the server ended because it sat idle
# in a transaction: its loop was stalled). Query cancellations (57014) are not among them.
_POSTGRES_UNAVAILABLE = (
    "PostgresConnectionError",
    "CannotConnectNowError",
    "AdminShutdownError",
    "CrashShutdownError",
    "TooManyConnectionsError",
    "IdleInTransactionSessionTimeoutError",
    "DiskFullError",  # 53100: writes fail until space is freed; reads still work
)
# SQLSTATE classes of a refused login: 28 (authorization), 3D (no such database).
_REFUSED_LOGIN = ("28", "3D")
_CHAIN_DEPTH = 4  # causes looked at behind an error (see is_unavailable)
# SQLite result codes of a disk or a lock that may come back (extended codes share these
# prefixes: SQLITE_IOERR_WRITE, SQLITE_BUSY_SNAPSHOT, …).
_SQLITE_UNAVAILABLE = (
    "SQLITE_IOERR",
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_CANTOPEN",
    "SQLITE_FULL",
    "SQLITE_PROTOCOL",
)


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc` means the database cannot be reached right now (retry later).

    An error raised while handling such an error counts too: a transaction whose
    connection died fails its ROLLBACK with asyncpg's "cannot switch to state …", whose
    context is the real cause."""
    for _ in range(_CHAIN_DEPTH):
        if _unavailable(exc):
            return True
        cause = exc.__cause__ or exc.__context__
        if cause is None:
            return False
        exc = cause
    return False


def _unavailable(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return all(is_unavailable(inner) for inner in exc.exceptions)
    if isinstance(exc, OSError):  # refused, reset, timed out, no route, DNS …
        return not isinstance(exc, _FILE_ERRORS)
    if isinstance(exc, sqlite3.OperationalError):
        return (getattr(exc, "sqlite_errorname", "") or "").startswith(_SQLITE_UNAVAILABLE)
    # asyncpg is looked at only once loaded (a SQLite daemon never imports it: ~0.1 s).
    asyncpg = sys.modules.get("asyncpg")
    if asyncpg is None:
        return False
    if isinstance(exc, tuple(getattr(asyncpg, name) for name in _POSTGRES_UNAVAILABLE)):
        return True
    if isinstance(exc, asyncpg.InterfaceError):  # used after its connection died
        return "connection is closed" in str(exc)
    # A connection the server dropped in the middle of an exchange can be left in a state
    # its protocol refuses ("cannot switch to state …"): that connection is unusable, and
    # the pool replaces it (PostgresConnector expires the pool on any of these errors).
    return isinstance(exc, asyncpg.InternalClientError)


def describe(exc: BaseException) -> str:
    """`Type: first line of the message`, for one-line log records and API answers."""
    text = str(exc).strip().splitlines()
    described = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    if type(exc).__name__ == "InternalClientError":  # asyncpg's words for a broken link
        return f"connection broken mid-operation ({described})"
    return described


class Outage:
    """Whether the database answers, as this process last saw it.

    Every loop reports here; only the transitions are logged, so an outage is one
    WARNING when it starts and one INFO when it ends, whatever the number of loops.
    """

    def __init__(self) -> None:
        self.since: float | None = None  # wall-clock time of the outage's first failure
        self.error = ""
        self.failures = 0
        # monotonic time of the last recovery (liveness waits before judging others)
        self.recovered_at: float | None = None
        self._back: asyncio.Event | None = None  # set when the outage ends

    @property
    def down(self) -> bool:
        return self.since is not None

    def since_iso(self) -> str | None:
        if self.since is None:
            return None
        return datetime.fromtimestamp(self.since, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def failed(self, exc: BaseException, doing: str) -> None:
        self.failures += 1
        self.error = describe(exc)
        if self.since is not None:
            log.debug("database still unreachable (%s, %s)", self.error, doing)
            return
        self.since = time.time()
        log.warning(
            "database unreachable (%s, %s): work pauses and is retried with back-off "
            "(up to every %gs) until it answers again; nothing is lost",
            self.error,
            doing,
            MAX_DELAY,
        )

    def recovered(self) -> None:
        if self.since is None:
            return
        log.info(
            "database reachable again after %.1fs (%d failed attempt(s)); work resumes",
            time.time() - self.since,
            self.failures,
        )
        self.since, self.error, self.failures = None, "", 0
        self.recovered_at = time.monotonic()
        if self._back is not None:
            self._back.set()
            self._back = None

    def back(self) -> asyncio.Event:
        """An event set when the current outage ends (loops waiting a back-off retry at
        once instead of sleeping out their delay)."""
        if self._back is None:
            self._back = asyncio.Event()
        return self._back


_OUTAGES: weakref.WeakKeyDictionary[object, Outage] = weakref.WeakKeyDictionary()


def outage_of(store: object) -> Outage:
    """The one Outage record of a store object.

    Kept beside the store rather than on it so every loop, the health endpoint and the
    store's own LISTEN connection find the same record without new wiring.
    """
    outage = _OUTAGES.get(store)
    if outage is None:
        outage = _OUTAGES[store] = Outage()
    return outage


class DatabaseUnreachable(Exception):
    """The database did not answer at start within `database.startup_wait`: a clear,
    one-line reason to stop (systemd's Restart= tries again later)."""


def redact_url(url: str) -> str:
    """The url without its password, fit for logs."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


async def migrate_when_reachable(store: Any, url: str, wait: float) -> None:
    """Migrate `store`, waiting up to `wait` seconds for its database to answer.

    Why: at boot PostgreSQL may come up after kestrad, and a restart of both at once is
    common; a daemon that waits (logging once) starts by itself instead of crash-looping
    with a traceback. Errors that are not an outage (a wrong password, a missing
    database) fail at once.
    """
    deadline = time.monotonic() + wait
    delay = FIRST_DELAY
    waiting = False
    while True:
        try:
            await store.migrate()
        except Exception as exc:
            if not is_unavailable(exc):
                state = str(getattr(exc, "sqlstate", "") or "")
                if state.startswith(_REFUSED_LOGIN):  # wrong user, password, database name
                    raise DatabaseUnreachable(
                        f"cannot open the database at {redact_url(url)}: {exc}"
                    ) from exc
                raise
            left = deadline - time.monotonic()
            if left <= 0:
                raise DatabaseUnreachable(
                    f"the database at {redact_url(url)} is unreachable ({describe(exc)})"
                    + (f"; waited {wait:g}s (database.startup_wait)" if wait > 0 else "")
                ) from exc
            if not waiting:
                waiting = True
                log.warning(
                    "waiting up to %gs for the database at %s (%s)",
                    wait,
                    redact_url(url),
                    describe(exc),
                )
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 2, MAX_DELAY)
            continue
        if waiting:
            log.info("the database at %s answers: starting", redact_url(url))
        return


class Retry:
    """One loop's side of an outage: reports to the store's record and waits a delay
    doubling from `first` to `cap` between attempts, reset by the first success."""

    def __init__(
        self, store: object, doing: str, *, first: float = FIRST_DELAY, cap: float = MAX_DELAY
    ) -> None:
        self.outage = outage_of(store)
        self.doing = doing
        self.first = first
        self.cap = cap
        self.delay = first
        self.failing = False

    def failed(self, exc: BaseException) -> bool:
        """Record `exc` when it means the database is unreachable, and say so; False for
        any other error, which the caller handles as it always did."""
        if not is_unavailable(exc):
            return False
        self.failing = True
        self.outage.failed(exc, self.doing)
        return True

    async def wait(self) -> None:
        """Sleep the current delay (less if another loop sees the database back first),
        then double it (up to the cap)."""
        back = self.outage.back() if self.outage.down else None
        if back is None:
            await asyncio.sleep(self.delay)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(back.wait(), self.delay)
        self.delay = min(self.delay * 2, self.cap)

    def succeeded(self) -> None:
        """The attempt after a failure went through: the database answers again.

        Only a loop that failed can say so: its retry redoes the call that met the
        outage, while another loop's "success" may not have touched the database at
        all (a tick with nothing to write)."""
        self.delay = self.first
        if self.failing:
            self.failing = False
            self.outage.recovered()
