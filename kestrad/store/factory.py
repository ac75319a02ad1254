"""Picks the Store implementation from a database url."""

from __future__ import annotations

from kestrad.store.base import Store


def open_store(url: str, *, synchronous: str = "FULL", liveness_timeout: float = 45.0) -> Store:
    """`sqlite:///path` → SQLiteStore; `postgresql://…` (or `postgres://…`) → PostgresStore."""
    if url.startswith("sqlite:"):
        from kestrad.store.sqlite import SQLiteStore

        return SQLiteStore.from_url(url, synchronous=synchronous, liveness_timeout=liveness_timeout)
    if url.startswith(("postgresql://", "postgres://")):
        from kestrad.store.postgres import PostgresStore

        return PostgresStore.from_url(url, liveness_timeout=liveness_timeout)
    raise ValueError(
        f"unsupported database url `{url}` (expected sqlite:///path or postgresql://…)"
    )
