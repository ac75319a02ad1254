"""Triggers, the KV store and instances in Chromium, on SQLite and PostgreSQL."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from .webui_support import AUTH, Server


def _expect():
    from playwright.sync_api import expect

    return expect


@pytest.mark.parametrize("path", ["/ui/triggers", "/ui/kv", "/ui/instances"])
def test_admin_pages_need_credentials(server: Server, path: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(server.url + path, timeout=10)
    assert refused.value.code == 401
    ok = urllib.request.Request(server.url + path, headers={"Authorization": AUTH})
    assert urllib.request.urlopen(ok, timeout=10).status == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/ui/kv"),
        ("DELETE", "/ui/kv/webui.tests/k"),
        ("POST", "/ui/triggers/webui.tests/nightly/hourly/disable"),
    ],
)
def test_ui_writes_need_credentials_and_the_same_origin(
    server: Server, method: str, path: str
) -> None:
    request = urllib.request.Request(server.url + path, data=b"", method=method)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401
    cross = urllib.request.Request(
        server.url + path,
        data=b"namespace=a&key=b&value=c",
        method=method,
        headers={
            "Authorization": AUTH,
            "Origin": "http://evil.example",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as forbidden:
        urllib.request.urlopen(cross, timeout=10)
    assert forbidden.value.code == 403


def test_triggers_disable_enable_and_backfill(page, server: Server, screenshot) -> None:
    expect = _expect()
    page.goto("/ui/triggers?namespace=webui.tests")
    row = page.locator('tr[data-trigger="webui.tests.nightly.hourly"]')
    expect(row).to_be_visible()
    expect(row).to_have_attribute("data-disabled", "false")
    row.get_by_role("button", name="Disable").click()
    expect(row).to_have_attribute("data-disabled", "true")
    row.get_by_role("button", name="Enable").click()
    expect(row).to_have_attribute("data-disabled", "false")
    row.get_by_text("Backfill…").click()
    row.locator("[name=start]").fill("2026-01-01T00:00")
    row.locator("[name=end]").fill("2026-01-01T03:00")
    row.get_by_role("button", name="Start backfill").click()
    expect(row.get_by_role("button", name="Delete backfill")).to_be_visible()
    screenshot(page, "triggers")
    row.get_by_role("button", name="Delete backfill").click()
    expect(row.get_by_text("Backfill…")).to_be_visible()
    row.get_by_role("button", name="Unlock").click()
    expect(page.locator("#flash")).to_have_text("Unlocked: it can fire again")


def test_actions_take_no_click_before_the_page_script_runs(page, server: Server) -> None:
    """A click on an action button before ui.js (deferred) has run would do nothing, and a
    test (or a user) clicking right after a reload lost it: such buttons take no pointer
    events until the script marks the page ready, so the click waits for it."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    expect = _expect()
    held: list = []
    page.route("**/ui/static/ui.js", lambda route: held.append(route))
    page.goto("/ui/triggers?namespace=webui.tests", wait_until="commit")
    row = page.locator('tr[data-trigger="webui.tests.nightly.hourly"]')
    unlock = row.get_by_role("button", name="Unlock")
    expect(unlock).to_be_visible()
    with pytest.raises(PlaywrightTimeout):
        unlock.click(trial=True, timeout=1000)  # the script is held back: not clickable
    while not held:
        page.wait_for_timeout(20)
    held[0].continue_()
    unlock.click()
    expect(page.locator("html")).to_have_attribute("data-ready", "true")
    expect(page.locator("#flash")).to_have_text("Unlocked: it can fire again")


def test_kv_set_shows_refusals_and_deletes(page, server: Server, screenshot) -> None:
    expect = _expect()
    page.goto("/ui/kv")
    form = page.locator("#kv-set")
    form.locator("[name=namespace]").fill("webui.tests")
    form.locator("[name=key]").fill("answer")
    form.locator("[name=type]").select_option("NUMBER")
    form.locator("[name=value]").fill("not a number")
    form.get_by_role("button", name="Save").click()
    expect(page.locator("#flash")).to_contain_text("not a number")
    expect(page.locator('tr[data-key="webui.tests/answer"]')).to_have_count(0)
    form.locator("[name=value]").fill("42")
    form.get_by_role("button", name="Save").click()
    row = page.locator('tr[data-key="webui.tests/answer"]')
    expect(row.locator(".value")).to_have_text("42")
    expect(row).to_contain_text("NUMBER")
    screenshot(page, "kv")
    row.get_by_role("button", name="Delete").click()
    expect(row).to_have_count(0)


def test_instances_lists_this_daemon(page, server: Server) -> None:
    expect = _expect()
    page.goto("/ui/instances")
    row = page.locator("tr[data-instance]").filter(has_text="(this one)")
    expect(row).to_have_count(1)
    expect(row.locator(".state")).to_have_text("RUNNING")
    expect(row).to_contain_text("scheduler")


@pytest.mark.parametrize("namespace", ["", "../x", "<b>ns</b>", "Upper.Case", "ns with space"])
def test_kv_set_refuses_a_namespace_flows_could_not_have(server: Server, namespace: str) -> None:
    import json
    import urllib.parse

    body = urllib.parse.urlencode({"namespace": namespace, "key": "k", "value": "v"}).encode()
    request = urllib.request.Request(
        server.url + "/ui/kv",
        data=body,
        method="POST",
        headers={"Authorization": AUTH, "Content-Type": "application/x-www-form-urlencoded"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 422
    assert "must match" in json.loads(refused.value.read())["message"]
