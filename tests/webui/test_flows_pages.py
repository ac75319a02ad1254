"""Flows in Chromium: the list, a folder flow (read-only), an API flow (edited and
validated as you type), the topology, and the Execute form with typed inputs."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest

from .webui_support import AUTH, Server


def _expect():
    from playwright.sync_api import expect

    return expect


@pytest.mark.parametrize("path", ["/ui/flows", "/ui/flows/new", "/ui/flows/webui.tests/greet"])
def test_flow_pages_need_credentials(server: Server, path: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(server.url + path, timeout=10)
    assert refused.value.code == 401
    ok = urllib.request.Request(server.url + path, headers={"Authorization": AUTH})
    assert urllib.request.urlopen(ok, timeout=10).status == 200


def test_flows_list_shows_last_state(page, server: Server, screenshot) -> None:
    expect = _expect()
    created = server.api("POST", "/executions/webui.tests/greet", {"name": "list"})
    server.wait_state(created["id"], {"SUCCESS"})
    page.goto("/ui/flows?namespace=webui")
    row = page.locator('tr[data-flow="webui.tests.greet"]')
    expect(row).to_be_visible()
    expect(row.locator(".state")).to_have_text(re.compile("SUCCESS|RUNNING|CREATED"))
    expect(page.locator('tr[data-flow="webui.tests.sub.loop"]')).to_be_visible()
    screenshot(page, "flows")


def test_folder_flow_is_read_only_and_names_its_file(page, server: Server) -> None:
    expect = _expect()
    page.goto("/ui/flows/webui.tests/greet")
    expect(page.locator("#flow-origin")).to_contain_text("greet.yml")
    expect(page.locator("#flow-source")).to_contain_text("id: greet")
    expect(page.locator("textarea.editor")).to_have_count(0)
    expect(page.locator(".source .nums")).to_contain_text("12")


def test_api_flow_is_edited_and_validated_as_you_type(page, server: Server, screenshot) -> None:
    expect = _expect()
    page.goto("/ui/flows/new")
    editor = page.locator("#flow-yaml")
    source = (
        "id: made_here\nnamespace: webui.api\ntasks:\n  - id: hi\n"
        "    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
    )
    editor.fill(source.replace("io.kestra.plugin.core.log.Log", "io.kestra.nope.Nope"))
    editor.press("End")
    expect(page.locator("[data-flow-editor] .problems li").first).to_contain_text(
        "io.kestra.nope.Nope"
    )
    editor.fill(source)
    editor.press("End")
    expect(page.locator("[data-flow-editor] .status")).to_have_text("valid")
    page.get_by_role("button", name="Create").click()
    expect(page).to_have_url(re.compile("/ui/flows/webui.api/made_here$"))
    expect(page.locator("#flow-origin")).to_contain_text("editable")
    page.locator("#flow-yaml").fill(source.replace("message: hi", "message: changed"))
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#flow-yaml")).to_contain_text("message: changed")
    expect(page.get_by_text("Revision 2")).to_be_visible()
    screenshot(page, "flow-editor")


def test_topology_of_a_flow(page, server: Server) -> None:
    expect = _expect()
    page.goto("/ui/flows/webui.tests.sub/loop?tab=topology")
    expect(page.locator("#topology .node")).to_have_count(4)


def test_execute_form_runs_the_flow_with_typed_inputs(page, server: Server, screenshot) -> None:
    expect = _expect()
    page.goto("/ui/flows/webui.tests/greet?tab=execute")
    page.get_by_label("name").fill("Grace")
    page.get_by_label("times").fill("5")
    page.locator("#in-loud").select_option("true")
    screenshot(page, "flow-execute")
    page.get_by_role("button", name="Execute").click()
    expect(page).to_have_url(re.compile(r"/ui/executions/[A-Za-z0-9]+$"))
    expect(page.locator("#execution-state .state")).to_have_text("SUCCESS")
    execution_id = page.url.rsplit("/", 1)[-1]
    execution = server.api("GET", f"/executions/{execution_id}")
    assert execution["inputs"]["name"] == "Grace"
    assert execution["inputs"]["times"] == 5
    assert execution["inputs"]["loud"] is True


def test_execute_form_shows_the_server_error_beside_the_field(page, server: Server) -> None:
    expect = _expect()
    page.goto("/ui/flows/webui.tests/greet?tab=execute")
    # `name` is required and has no default: the server names it.
    page.get_by_label("times").fill("7")
    page.get_by_role("button", name="Execute").click()
    expect(page.locator('[data-error-for="name"]')).not_to_be_empty()
    expect(page.locator("#flash")).to_be_visible()
    assert "/ui/flows/" in page.url


def test_execute_form_uploads_a_file(page, server: Server, tmp_path) -> None:
    expect = _expect()
    upload = tmp_path / "hello.txt"
    upload.write_text("file content from the browser\n")
    page.goto("/ui/flows/webui.tests/greet?tab=execute")
    page.get_by_label("name").fill("Files")
    page.locator("#in-upload").set_input_files(str(upload))
    page.get_by_role("button", name="Execute").click()
    expect(page).to_have_url(re.compile(r"/ui/executions/[A-Za-z0-9]+$"), timeout=5_000)
    expect(page.locator("#execution-state .state")).to_have_text("SUCCESS")
    execution = server.api("GET", f"/executions/{page.url.rsplit('/', 1)[-1]}")
    assert str(execution["inputs"]["upload"]).startswith("kestra:///")
