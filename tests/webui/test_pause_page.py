"""Pause a running execution from its page, then resume it (the API's actions/pause)."""

from __future__ import annotations

import pytest

from .webui_support import Server

TICKS = """
id: ticks
namespace: webui.pause
tasks:
  - id: first
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT2S
  - id: second
    type: io.kestra.plugin.core.log.Log
    message: second ran
"""


def _expect():
    from playwright.sync_api import expect

    return expect


@pytest.fixture(scope="module")
def ticks(server: Server) -> Server:
    server.api_yaml("POST", "/flows", TICKS)
    return server


def test_pause_then_resume_from_the_page(page, ticks: Server) -> None:
    expect = _expect()
    created = ticks.api("POST", "/executions/webui.pause/ticks", None)
    ticks.wait_state(created["id"], {"RUNNING"})
    page.goto(f"/ui/executions/{created['id']}")
    page.get_by_role("button", name="Pause", exact=True).click()
    expect(page.locator("#execution-state .state")).to_have_text("PAUSED", timeout=20_000)
    runs = {r["taskId"] for r in ticks.api("GET", f"/executions/{created['id']}")["taskRunList"]}
    assert "second" not in runs  # nothing new starts while paused
    page.get_by_role("button", name="Resume / approve").click()
    expect(page.locator("#execution-state .state")).to_have_text("SUCCESS", timeout=20_000)


def test_an_ended_execution_offers_no_pause(page, ticks: Server) -> None:
    expect = _expect()
    created = ticks.api("POST", "/executions/webui.pause/ticks", None)
    ticks.wait_state(created["id"], {"SUCCESS"})
    page.goto(f"/ui/executions/{created['id']}")
    expect(page.locator("#execution-state .state")).to_have_text("SUCCESS")
    expect(page.get_by_role("button", name="Restart")).to_be_visible()
    expect(page.get_by_role("button", name="Pause", exact=True)).to_have_count(0)
