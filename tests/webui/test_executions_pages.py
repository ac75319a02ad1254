"""The executions list and the execution page in Chromium, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

from .webui_support import AUTH, Server


def _expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def ui_paths() -> list[tuple[str, str]]:
    """(method, path) of every route the UI mounts, path parameters filled in: a page
    added later is covered without editing this list."""
    from starlette.routing import Mount, Route

    from kestrad.ui.routes import ui_routes

    out: list[tuple[str, str]] = []

    def walk(routes: list, prefix: str) -> None:
        for route in routes:
            if isinstance(route, Mount):
                if route.path == "/ui/static" or route.path.endswith("/static"):
                    out.append(("GET", prefix + route.path + "/ui.js"))
                else:
                    walk(route.routes, prefix + route.path)
            elif isinstance(route, Route):
                path = re.sub(r"\{[^}]+\}", "x", prefix + route.path)
                out.extend((method, path) for method in sorted(route.methods - {"HEAD"}))

    walk(ui_routes(None), "")  # type: ignore[arg-type]
    return out


UI_PAGES = ui_paths()


def test_every_ui_route_is_listed() -> None:
    paths = {path for _, path in UI_PAGES}
    assert {"/", "/ui/", "/ui/executions", "/ui/flows", "/ui/kv", "/ui/files"} <= paths
    assert ("DELETE", "/ui/kv/x/x") in UI_PAGES


@pytest.mark.parametrize(("method", "path"), UI_PAGES)
def test_basic_auth_guards_every_page(server: Server, method: str, path: str) -> None:
    """No page, script, fragment or write of the UI answers without credentials."""
    data = b"" if method != "GET" else None
    anonymous = urllib.request.Request(server.url + path, data=data, method=method)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(anonymous, timeout=10)
    assert refused.value.code == 401
    assert refused.value.headers["WWW-Authenticate"].startswith("Basic")
    if method != "GET":
        return
    request = urllib.request.Request(server.url + path, headers={"Authorization": AUTH})
    try:
        status = urllib.request.urlopen(request, timeout=10).status
    except urllib.error.HTTPError as exc:
        status = exc.code
    assert status in (200, 400, 404)


def test_root_redirects_to_the_ui(server: Server) -> None:
    request = urllib.request.Request(server.url + "/", headers={"Authorization": AUTH})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.url.endswith("/ui/executions")


def test_cross_site_writes_are_refused(server: Server) -> None:
    """A page on another site cannot make the logged-in browser create an execution."""
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        request = urllib.request.Request(
            server.url + "/api/v1/main/executions/webui.tests/greet",
            data=b"name=x",
            method="POST",
            headers={
                "Authorization": AUTH,
                "Content-Type": "application/x-www-form-urlencoded",
                **headers,
            },
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 403
        assert b"Cross-site request refused" in refused.value.read()
    same = urllib.request.Request(
        server.url + "/api/v1/main/executions/webui.tests/greet",
        data=b"name=x",
        method="POST",
        headers={
            "Authorization": AUTH,
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": server.url,
            "Sec-Fetch-Site": "same-origin",
        },
    )
    with urllib.request.urlopen(same, timeout=10) as response:
        assert response.status == 200


def test_list_shows_a_new_execution_reach_success_without_reload(
    page, server: Server, screenshot
) -> None:
    expect = _expect()
    page.goto("/ui/executions?namespace=webui.tests")
    marker = page.evaluate("() => (window.__marker = Math.random())")
    created = server.api("POST", "/executions/webui.tests/greet", {"name": "Ada"})
    row = page.locator(f'tr[data-execution="{created["id"]}"]')
    expect(row).to_be_visible()
    expect(row.locator(".state")).to_have_text("SUCCESS")
    assert page.evaluate("() => window.__marker") == marker  # the same page: no reload
    expect(page.locator('g[data-state="SUCCESS"]')).to_be_visible()
    screenshot(page, "executions")


def test_list_filters_by_state_and_sub_namespace(page, server: Server) -> None:
    expect = _expect()
    loop = server.api("POST", "/executions/webui.tests.sub/loop", None)
    server.wait_state(loop["id"], {"SUCCESS"})
    page.goto("/ui/executions?namespace=webui.tests.sub&state=SUCCESS")
    expect(page.locator(f'tr[data-execution="{loop["id"]}"]')).to_be_visible()
    page.goto("/ui/executions?namespace=webui&state=FAILED&state=KILLED")
    expect(page.locator(f'tr[data-execution="{loop["id"]}"]')).to_have_count(0)
    page.goto("/ui/executions?namespace=webui")  # webui.tests.sub is below webui
    expect(page.locator(f'tr[data-execution="{loop["id"]}"]')).to_be_visible()
    page.goto("/ui/executions?state=NOPE")
    expect(page.get_by_role("alert").filter(has_text="unknown state NOPE")).to_be_visible()


def test_list_pages_with_a_cursor(page, server: Server) -> None:
    """Keyset pages: `Older` continues after the last row, nothing repeated or skipped."""
    expect = _expect()
    ids = [
        server.api("POST", "/executions/webui.tests/greet", {"name": "pager"})["id"]
        for _ in range(3)
    ]
    for execution_id in ids:
        server.wait_state(execution_id, {"SUCCESS"})
    page.goto("/ui/executions?namespace=webui.tests&flow=greet&label=pager:yes&size=2")
    expect(page.locator("tr[data-execution]")).to_have_count(0)  # no such label
    page.goto("/ui/executions?namespace=webui.tests&flow=greet&size=2")
    seen: list[str] = []
    for _ in range(20):
        rows = page.locator("tr[data-execution]")
        seen.extend(rows.evaluate_all("rs => rs.map(r => r.dataset.execution)"))
        older = page.get_by_role("link", name="Older »")
        if older.count() == 0:
            break
        older.click()
        expect(page).to_have_url(re.compile("after="))
    assert set(ids) <= set(seen)
    assert len(seen) == len(set(seen))


def test_kill_a_running_execution_from_its_page(page, server: Server) -> None:
    expect = _expect()
    created = server.api("POST", "/executions/webui.tests/slow", None)
    server.wait_state(created["id"], {"RUNNING"})
    page.goto(f"/ui/executions/{created['id']}")
    page.get_by_role("button", name="Kill").click()
    expect(page.locator("#execution-state .state")).to_have_text("KILLED", timeout=20_000)


def _actions(page) -> list[str]:
    return page.locator("#actions button").all_inner_texts()


def test_an_ended_execution_offers_no_kill_resume_or_pause(page, server: Server) -> None:
    expect = _expect()
    created = server.api("POST", "/executions/webui.tests/greet", {"name": "done"})
    server.wait_state(created["id"], {"SUCCESS"})
    page.goto(f"/ui/executions/{created['id']}")
    expect(page.locator("#execution-state .state")).to_have_text("SUCCESS")
    # The engine's rules: an ended execution restarts or replays, nothing else.
    assert sorted(_actions(page)) == ["Replay", "Restart"]
    page.get_by_text("Replay with changed inputs, or change labels").click()
    expect(page.get_by_role("button", name="Save labels")).to_be_visible()  # labels always


def test_resume_a_paused_execution(page, server: Server, screenshot) -> None:
    """Resume and Kill show while PAUSED; after resuming, Resume goes without a reload."""
    expect = _expect()
    created = server.api("POST", "/executions/webui.tests/approval", None)
    server.wait_state(created["id"], {"PAUSED"})
    page.goto(f"/ui/executions/{created['id']}")
    expect(page.locator("#execution-state .state")).to_have_text("PAUSED")
    assert sorted(_actions(page)) == ["Kill", "Restart", "Resume / approve"]
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads
    page.get_by_role("button", name="Resume / approve").click()
    expect(page.locator("#execution-state .state")).to_have_text("SUCCESS", timeout=20_000)
    expect(page.get_by_role("button", name="Resume / approve")).to_have_count(0)
    expect(page.get_by_role("button", name="Kill")).to_have_count(0)
    assert page.evaluate("window.loadedOnce") is True


def test_a_refused_action_shows_the_api_message(page, server: Server) -> None:
    """A page that has not refreshed yet still offers Resume: the API's refusal shows."""
    expect = _expect()
    created = server.api("POST", "/executions/webui.tests/approval", None)
    server.wait_state(created["id"], {"PAUSED"})
    page.route("**/live?*", lambda route: route.abort())  # the page stays as loaded
    page.goto(f"/ui/executions/{created['id']}")
    expect(page.get_by_role("button", name="Resume / approve")).to_be_visible()
    server.api("POST", f"/executions/{created['id']}/resume", None)
    server.wait_state(created["id"], {"SUCCESS"})
    try:
        server.api("POST", f"/executions/{created['id']}/resume", None)
    except urllib.error.HTTPError as exc:
        message = exc.read().decode()
    else:
        raise AssertionError("the API resumed an ended execution")
    import json

    expected = json.loads(message)["message"]
    page.get_by_role("button", name="Resume / approve").click()
    expect(page.locator("#flash")).to_have_text(expected)


def test_gantt_and_topology_of_a_foreach(page, server: Server, screenshot) -> None:
    expect = _expect()
    created = server.api("POST", "/executions/webui.tests.sub/loop", None)
    server.wait_state(created["id"], {"SUCCESS"})
    page.goto(f"/ui/executions/{created['id']}?tab=gantt")
    rows = page.locator("#gantt .gantt-row")
    labels = rows.evaluate_all("rs => rs.map(r => r.dataset.task)")
    assert labels[0] == "each"
    assert {"say [a]", "say [b]", "say [c]", "rest [c]", "done"} <= set(labels)
    expect(page.locator('#gantt .gantt-row[data-task="say [b]"]')).to_have_attribute(
        "data-state", "SUCCESS"
    )
    screenshot(page, "execution-gantt")
    page.get_by_role("tab", name="Topology").click()
    nodes = page.locator("#topology .node")
    expect(nodes).to_have_count(4)
    for task in ("each", "say", "rest", "done"):
        expect(page.locator(f'#topology .node[data-task="{task}"]')).to_have_attribute(
            "data-state", "SUCCESS"
        )
    screenshot(page, "execution-topology")


def test_log_lines_appear_live(page, server: Server, screenshot) -> None:
    expect = _expect()
    created = server.api("POST", "/executions/webui.tests/slow", None)
    page.goto(f"/ui/executions/{created['id']}?tab=logs")
    expect(page.locator(".logs .line").filter(has_text="first line")).to_be_visible()
    screenshot(page, "execution-logs")
    server.api("DELETE", f"/executions/{created['id']}/kill")
    page.locator("[name=search]").fill("no such text")
    expect(page.locator(".logs .line")).to_have_count(0)
    page.locator("[name=search]").fill("first")
    expect(page.locator(".logs .line")).to_have_count(1)


def test_outputs_tab_and_file_refusals(page, server: Server) -> None:
    expect = _expect()
    created = server.api("POST", "/executions/webui.tests/greet", {"name": "Out"})
    server.wait_state(created["id"], {"SUCCESS"})
    page.goto(f"/ui/executions/{created['id']}?tab=outputs")
    expect(page.locator('details[data-task="out"]')).to_contain_text("Hello Out")
    for uri, status in (
        ("kestra:///../../etc/passwd", 400),
        ("/etc/passwd", 400),
        ("kestra:///webui/tests/greet/executions/other/x.txt", 403),
    ):
        response = page.request.get(f"/ui/executions/{created['id']}/file", params={"uri": uri})
        assert response.status == status, (uri, response.status, response.text())
    assert re.search(
        "not|belong|segment",
        page.request.get(
            f"/ui/executions/{created['id']}/file", params={"uri": "kestra:///../x"}
        ).text(),
    )


def test_labels_are_changed_from_the_page(page, server: Server) -> None:
    expect = _expect()
    created = server.api("POST", "/executions/webui.tests/greet", {"name": "labels"})
    server.wait_state(created["id"], {"SUCCESS"})
    page.goto(f"/ui/executions/{created['id']}")
    page.get_by_text("Replay with changed inputs, or change labels").click()
    page.locator("#labels-text").fill("team:data\nenv:test")
    page.get_by_role("button", name="Save labels").click()
    expect(page.locator("#flash")).to_have_text("Labels saved")
    labels = {
        item["key"]: item["value"]
        for item in server.api("GET", f"/executions/{created['id']}")["labels"]
    }
    assert labels["team"] == "data" and labels["env"] == "test"
    expect(page.locator("#live")).to_contain_text("team:data")


def test_replay_with_changed_inputs_opens_the_new_execution(page, server: Server) -> None:
    expect = _expect()
    created = server.api("POST", "/executions/webui.tests/greet", {"name": "first"})
    server.wait_state(created["id"], {"SUCCESS"})
    page.goto(f"/ui/executions/{created['id']}")
    page.get_by_text("Replay with changed inputs, or change labels").click()
    page.locator("#replay-name").fill("second")
    page.get_by_role("button", name="Replay with these inputs").click()
    expect(page).not_to_have_url(re.compile(created["id"]))
    expect(page.locator("#execution-state .state")).to_have_text("SUCCESS")
    replayed = server.api("GET", f"/executions/{page.url.rsplit('/', 1)[-1]}")
    assert replayed["inputs"]["name"] == "second"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("after=not-a-cursor", "after: not a page cursor"),
        ("start=yesterday", "start: `yesterday` is not a date"),
        ("label=novalue", "label: `novalue` is not key:value"),
        ("state=RUNNING&state=%3Cscript%3E", "unknown state &lt;SCRIPT&gt;"),
        ("size=lots", "size: not a number"),
    ],
)
def test_bad_filters_are_answered_400_naming_the_field(
    server: Server, query: str, message: str
) -> None:
    for path in ("/ui/executions", "/ui/executions/rows", "/ui/executions/counts"):
        request = urllib.request.Request(
            f"{server.url}{path}?{query}", headers={"Authorization": AUTH}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 400
        assert message in refused.value.read().decode()


def test_stored_text_is_escaped_in_pages(server: Server) -> None:
    """Labels and inputs come from API callers: they are shown, never run."""
    hostile = "<img src=x onerror=alert(1)>"
    created = server.api(
        "POST",
        "/executions/webui.tests/greet?labels=" + urllib.parse.quote(f"x:{hostile}"),
        {"name": hostile},
    )
    server.wait_state(created["id"], {"SUCCESS"})
    for path in (f"/ui/executions/{created['id']}", "/ui/executions?namespace=webui.tests"):
        request = urllib.request.Request(server.url + path, headers={"Authorization": AUTH})
        html = urllib.request.urlopen(request, timeout=10).read().decode()
        assert hostile not in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_time_range_filter(page, server: Server) -> None:
    expect = _expect()
    created = server.api("POST", "/executions/webui.tests/greet", {"name": "range"})
    server.wait_state(created["id"], {"SUCCESS"})
    row = page.locator(f'tr[data-execution="{created["id"]}"]')
    page.goto("/ui/executions?namespace=webui.tests&start=2099-01-01T00:00")
    expect(row).to_have_count(0)
    page.goto("/ui/executions?namespace=webui.tests&start=2020-01-01T00:00&end=2099-01-01T00:00")
    expect(row).to_be_visible()
    page.goto("/ui/executions?namespace=webui.tests&end=2020-01-01T00:00")
    expect(row).to_have_count(0)


def test_gantt_draws_each_attempt_of_a_retried_task(page, server: Server) -> None:
    expect = _expect()
    created = server.api("POST", "/executions/webui.tests/flaky", None)
    server.wait_state(created["id"], {"FAILED"})
    page.goto(f"/ui/executions/{created['id']}?tab=gantt")
    row = page.locator('#gantt .gantt-row[data-task="flaky"]')
    expect(row).to_have_attribute("data-attempts", "3")
    expect(row.locator("rect")).to_have_count(3)
    expect(row.locator("rect title").first).to_contain_text("attempt 1: FAILED")


def test_resume_form_asks_for_the_pause_inputs(page, server: Server) -> None:
    expect = _expect()
    created = server.api("POST", "/executions/webui.tests/approval_inputs", None)
    server.wait_state(created["id"], {"PAUSED"})
    page.goto(f"/ui/executions/{created['id']}")
    form = page.locator("#resume-inputs")
    form.get_by_label("approver").fill("Grace")
    form.get_by_label("amount").fill("42")
    form.get_by_role("button", name="Resume with these inputs").click()
    expect(page.locator("#execution-state .state")).to_have_text("SUCCESS", timeout=20_000)
    page.get_by_role("tab", name="Logs").click()
    expect(page.locator(".logs .line").filter(has_text="approved by Grace for 42")).to_be_visible()


def test_parent_and_child_executions_link_to_each_other(page, server: Server) -> None:
    expect = _expect()
    created = server.api("POST", "/executions/webui.tests/parent", None)
    parent = server.wait_state(created["id"], {"SUCCESS"})
    child_id = next(r for r in parent["taskRunList"] if r["taskId"] == "call")["outputs"][
        "executionId"
    ]
    page.goto(f"/ui/executions/{created['id']}")
    page.get_by_role("link", name=child_id).click()
    expect(page).to_have_url(re.compile(f"/ui/executions/{child_id}$"))
    expect(page.get_by_text("from the parent")).to_be_visible()
    page.get_by_role("link", name=created["id"]).click()
    expect(page).to_have_url(re.compile(f"/ui/executions/{created['id']}$"))
