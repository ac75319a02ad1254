"""`server.ui: false` serves the API alone: no page, no redirect, no static file."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .flows import GREET
from .webui_support import AUTH, Server


def status(url: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": AUTH})
    try:
        return urllib.request.urlopen(request, timeout=10).status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.parametrize("enabled", [True, False])
def test_server_ui_switch(tmp_path: Path, enabled: bool) -> None:
    server = Server(tmp_path, f"sqlite:///{tmp_path}/k.db", {"greet": GREET}, ui=enabled)
    server.start()
    try:
        expected = 200 if enabled else 404
        for path in ("/", "/ui/executions", "/ui/static/ui.js", "/ui/flows"):
            assert status(server.url + path) == expected, path
        assert status(server.url + "/api/v1/main/flows/webui.tests/greet") == 200
    finally:
        server.stop()
