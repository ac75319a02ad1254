"""The configured database for commands that work on it directly (logs, kv, triggers, …)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from kestrad.config import default_config_path, load_config, path_from_url
from kestrad.runtime.engine import store_for
from kestrad.store.base import Store


@contextlib.asynccontextmanager
async def open_configured_store(config_arg: str | None) -> AsyncIterator[Store]:
    """The store of the configured database, migrated (a command may need a newer table
    than the daemon created); refuses to create a SQLite file that does not exist yet."""
    config = load_config(default_config_path(config_arg))
    url = config.database.url
    if url.startswith("sqlite:") and not Path(path_from_url(url)).exists():
        raise LookupError(f"no database at {path_from_url(url)} (database.url); has kestrad run?")
    store = store_for(url, config)
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


def configured_storage(config_arg: str | None) -> str:
    """The internal storage folder of the configured daemon (`storage.path`, else beside
    its SQLite file)."""
    config = load_config(default_config_path(config_arg))
    return config.storage_path(config.database.url)
