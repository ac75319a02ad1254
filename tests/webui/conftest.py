"""Fixtures: one daemon per store for the whole module, a logged-in browser page per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .flows import ALL
from .webui_support import (
    CHROMIUM,
    PASSWORD,
    SCREENSHOTS,
    USER,
    Server,
    create_postgres_database,
    require_browser,
)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Per module, not per session: Playwright's sync API keeps an event loop running in
    the test thread while it is open, which the anyio tests of other folders cannot share."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp(f"webui-{request.param}")
    drop = None
    if request.param == "postgres":
        url, drop = create_postgres_database()
    else:
        url = f"sqlite:///{tmp}/kestrad.db"
    instance = Server(tmp, url, ALL)
    instance.backend = request.param  # type: ignore[attr-defined]
    try:
        yield instance.start()
    finally:
        instance.stop()
        if drop is not None:
            drop()


@pytest.fixture
def page(browser: object, server: Server) -> Iterator[object]:
    context = browser.new_context(  # type: ignore[attr-defined]
        http_credentials={"username": USER, "password": PASSWORD},
        viewport={"width": 1280, "height": 800},
        base_url=server.url,
    )
    context.set_default_timeout(15_000)
    tab = context.new_page()
    tab.on("dialog", lambda dialog: dialog.accept())  # confirmations
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture
def screenshot(server: Server):
    """Save a page's screenshot under build/screenshots (SQLite runs only: one copy)."""

    def take(tab: object, name: str) -> Path | None:
        if getattr(server, "backend", "") != "sqlite":
            return None
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        tab.screenshot(path=str(path))  # type: ignore[attr-defined]
        return path

    return take
