"""Fixtures: a `kestrad serve` subprocess per test, and a view of its store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import Daemon, StoreView


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    """Not started yet: a test may change settings first (`daemon.write_config`)."""
    instance = Daemon(tmp_path)
    try:
        yield instance
    finally:
        instance.close()


@pytest.fixture
def view(daemon: Daemon) -> StoreView:
    return StoreView(daemon.db)
