"""Namespace files in Chromium: upload, view, edit, delete; hostile names refused."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest

from .webui_support import AUTH, Server


def _expect():
    from playwright.sync_api import expect

    return expect


def test_files_are_uploaded_viewed_edited_and_deleted(
    page, server: Server, tmp_path, screenshot
) -> None:
    expect = _expect()
    source = tmp_path / "etl.py"
    source.write_text("print('hello from a namespace file')\n")
    page.goto("/ui/files?namespace=webui.files")
    expect(page.get_by_text("No file here.")).to_be_visible()
    form = page.locator("#file-add")
    form.locator("[name=path]").fill("scripts/")
    form.locator("[name=file]").set_input_files(str(source))
    form.get_by_role("button", name="Save").click()
    expect(page.locator('tr[data-file="scripts"]')).to_be_visible()
    page.get_by_role("link", name="scripts").click()
    page.get_by_role("link", name="etl.py").click()
    expect(page.locator("#file-content")).to_have_text("print('hello from a namespace file')\n")
    screenshot(page, "namespace-files")
    page.locator("#file-edit textarea").fill("print('changed')\n")
    page.locator("#file-edit").get_by_role("button", name="Save").click()
    expect(page.locator("#file-content")).to_have_text("print('changed')\n")
    page.get_by_role("button", name="Delete").click()
    expect(page.locator("#flash")).to_have_text("Deleted")
    page.goto("/ui/files?namespace=webui.files&path=scripts")
    expect(page.get_by_text("No file here.")).to_be_visible()


@pytest.mark.parametrize(
    ("namespace", "path"),
    [
        ("webui.files", "../../../etc/passwd"),
        ("webui.files", "/etc/passwd"),
        ("..", "x.txt"),
        ("webui..files", "x.txt"),
        ("webui.files", "a/../../b.txt"),
        ("webui.files", "a\\b.txt"),
    ],
)
def test_hostile_names_are_refused(server: Server, namespace: str, path: str) -> None:
    body = urllib.parse.urlencode({"namespace": namespace, "path": path, "content": "x"}).encode()
    request = urllib.request.Request(
        server.url + "/ui/files",
        data=body,
        method="POST",
        headers={"Authorization": AUTH, "Content-Type": "application/x-www-form-urlencoded"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 422
    assert json.loads(refused.value.read())["message"]
    query = urllib.parse.urlencode({"namespace": namespace, "path": path})
    for target in (f"/ui/files/download?{query}", f"/ui/files?{query}"):
        get = urllib.request.Request(server.url + target, headers={"Authorization": AUTH})
        with pytest.raises(urllib.error.HTTPError) as bad:
            urllib.request.urlopen(get, timeout=10)
        assert bad.value.code == 400
