"""Picks the Store's connector from a database url."""

from __future__ import annotations

from kestrad.config import path_from_url
from kestrad.store.base import Store
from kestrad.store.lease import Lease
from kestrad.store.session import Session


def open_store(
    url: str,
    *,
    synchronous: str = "FULL",
    liveness_timeout: float = 45.0,
    session: Session | None = None,
    lease: Lease | None = None,
) -> Store:
    """`sqlite:///path` → SQLiteStore; `postgresql://…` (or `postgres://…`) → PostgresStore.

    `session` and `lease` are PostgreSQL's: its connections' settings, and the daemon's
    lease checked before each commit (store/lease.py). Each module is imported only when
    used: a SQLite daemon never loads asyncpg."""
    if url.startswith("sqlite:"):
        from kestrad.store.sqlite import SQLiteStore

        return SQLiteStore(
            path_from_url(url), synchronous=synchronous, liveness_timeout=liveness_timeout
        )
    if url.startswith(("postgresql://", "postgres://")):
        from kestrad.store.postgres import PostgresStore

        return PostgresStore(url, liveness_timeout=liveness_timeout, session=session, lease=lease)
    raise ValueError(
        f"unsupported database url `{url}` (expected sqlite:///path or postgresql://…)"
    )
