"""A flows-folder file that stops loading, seen in the browser: the flow page's problems
panel names file:line:col and the message while the last good revision still shows; the
flows list marks the flow, and lists files that never loaded. Messages are text, not HTML.

Kestra has no flows folder watcher of its own to compare with (its `FlowListeners` keep
the last valid flow on a bad update, as here); this is kestrad's folder sync (issue 14).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest

from .webui_support import AUTH, Server

GOOD = """id: file_problems
namespace: webui.problems
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: first good revision
"""

# Line 4, column 5: the task's `type` is unknown.
BROKEN = GOOD.replace("io.kestra.plugin.core.log.Log", "io.kestra.nope.Missing")

HOSTILE = """id: hostile_file
namespace: webui.problems
tasks:
  - id: hello
    type: "<img src=x onerror=window.__pwned=1><b>bold</b>"
"""


def _expect():
    from playwright.sync_api import expect

    return expect


def _until(page, url: str, done: Callable[[], bool], timeout: float = 20) -> None:
    """Reload `url` until `done()` (the folder sync reacts to file events, debounced)."""
    deadline = time.monotonic() + timeout
    while True:
        page.goto(url)
        if done():
            return
        assert time.monotonic() < deadline, f"{url} never reached the expected state"
        page.wait_for_timeout(250)


def test_broken_folder_file_shows_its_problems_then_clears(page, server: Server) -> None:
    expect = _expect()
    path = server.tmp / "flows" / "file_problems.yml"
    path.write_text(GOOD)
    url = "/ui/flows/webui.problems/file_problems"
    _until(page, url, lambda: page.locator("#flow-source").count() > 0)
    expect(page.locator("[aria-label=Problems]")).to_contain_text("none")

    path.write_text(BROKEN)
    _until(page, url, lambda: page.locator(".file-problems li").count() > 0)
    problem = page.locator(".file-problems li").first
    expect(problem).to_contain_text(f"{path.resolve()}:5:11")
    expect(problem).to_contain_text("io.kestra.nope.Missing")
    expect(page.locator("#file-problems-note")).to_contain_text("revision 1")
    # The last good revision is what still runs, and what the page shows.
    expect(page.locator("#flow-source")).to_contain_text("io.kestra.plugin.core.log.Log")
    page.goto("/ui/flows?namespace=webui.problems")
    marker = page.locator('tr[data-flow="webui.problems.file_problems"] .problem-marker')
    expect(marker).to_have_text("file does not load")
    [listed] = [
        f for f in server.api("GET", "/flows/file-problems") if f["file"] == str(path.resolve())
    ]
    assert listed["flow"] == {"namespace": "webui.problems", "id": "file_problems", "revision": 1}
    assert listed["problems"][0]["text"].startswith("5:11: ")

    path.write_text(GOOD.replace("first good revision", "second good revision"))
    _until(page, url, lambda: page.locator(".file-problems li").count() == 0)
    expect(page.locator("#flow-source")).to_contain_text("second good revision")
    expect(page.locator("[aria-label=Problems]")).to_contain_text("none")
    page.goto("/ui/flows?namespace=webui.problems")
    expect(marker).to_have_count(0)
    assert str(path.resolve()) not in {f["file"] for f in server.api("GET", "/flows/file-problems")}


def test_file_that_never_loaded_is_listed_and_its_message_is_text(page, server: Server) -> None:
    expect = _expect()
    path = server.tmp / "flows" / "hostile.yml"
    path.write_text(HOSTILE)
    section = page.locator("#files-with-problems")
    _until(page, "/ui/flows", lambda: section.count() > 0)
    entry = section.locator(f'li[data-file="{path.resolve()}"]')
    expect(entry).to_contain_text("<img src=x onerror=window.__pwned=1><b>bold</b>")
    expect(section.locator("img")).to_have_count(0)
    expect(section.locator("b")).to_have_count(0)
    assert page.evaluate("window.__pwned") is None
    [listed] = [
        f for f in server.api("GET", "/flows/file-problems") if f["file"] == str(path.resolve())
    ]
    assert listed["flow"] is None
    assert "<img src=x" in listed["problems"][0]["message"]  # JSON: data, escaped by readers

    request = urllib.request.Request(
        server.url + "/api/v1/main/flows/file-problems?file=<script>",
        headers={"Authorization": AUTH},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400  # an unknown parameter is refused, not ignored

    path.unlink()  # deleting the file clears its problems
    _until(page, "/ui/flows", lambda: section.count() == 0)
