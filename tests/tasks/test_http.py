"""HTTP tasks against a real local HTTP server started by the test."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from tasks_support import messages, run_flow, run_of, running_engine

pytestmark = pytest.mark.anyio

CSV = b"id,name\n1,ada\n2,grace\n"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        return

    def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("X-Multi", "one")
        self.send_header("X-Multi", "two")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/json":
            agent = self.headers.get("X-Caller", "")
            self._send(
                200,
                json.dumps({"ok": True, "caller": agent}).encode(),
                {"Content-Type": "application/json"},
            )
        elif self.path == "/missing":
            self._send(404, b"nothing here")
        elif self.path == "/slow":
            time.sleep(2)
            self._send(200, b"late")
        elif self.path.startswith("/files/"):
            self._send(200, CSV, {"Content-Disposition": 'attachment; filename="report.csv"'})
        elif self.path == "/plain/data.bin":
            self._send(200, bytes(range(256)) * 100)
        elif self.path == "/empty":
            self._send(200, b"")
        else:
            self._send(500, b"unexpected")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode()
        content_type = self.headers.get("Content-Type", "")
        parsed: object = body
        if content_type.startswith("application/x-www-form-urlencoded"):
            parsed = {k: v[0] for k, v in parse_qs(body).items()}
        elif content_type.startswith("multipart/form-data"):
            parsed = {"multipart": "report.csv" in body and "id,name" in body and "plain" in body}
        reply = {"method": "POST", "contentType": content_type, "body": parsed}
        self._send(201, json.dumps(reply).encode(), {"Content-Type": "application/json"})


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


async def test_get_json_with_headers(tmp_path: Path, server: str) -> None:
    source = f"""
id: get
namespace: company.team
tasks:
  - id: req
    type: io.kestra.plugin.core.http.Request
    uri: {server}/json
    headers:
      X-Caller: "{{{{ flow.id }}}}"
  - id: parse
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ json(outputs.req.body).caller }}}} {{{{ outputs.req.code }}}}"
"""
    async with running_engine(tmp_path) as engine:
        final, logs = await run_flow(engine, source)
    assert final.state.current == "SUCCESS", messages(logs)
    outputs = run_of(final, "req").outputs
    assert outputs["code"] == 200
    assert json.loads(outputs["body"]) == {"ok": True, "caller": "get"}
    assert outputs["headers"]["X-Multi"] == ["one", "two"]
    assert outputs["headers"]["Content-Type"] == ["application/json"]
    assert outputs["uri"] == f"{server}/json"
    assert run_of(final, "parse").outputs["value"] == "get 200"


async def test_post_body_form_and_multipart(tmp_path: Path, server: str) -> None:
    source = f"""
id: post
namespace: company.team
tasks:
  - id: body
    type: io.kestra.plugin.core.http.Request
    uri: {server}/echo
    method: POST
    contentType: application/json
    body: '{{"hello": "{{{{ flow.id }}}}"}}'
  - id: form
    type: io.kestra.plugin.fs.http.Request
    uri: {server}/echo
    method: POST
    formData:
      user: ada
      count: 3
  - id: file
    type: io.kestra.plugin.core.http.Download
    uri: {server}/files/x
  - id: multipart
    type: io.kestra.plugin.core.http.Request
    uri: {server}/echo
    method: POST
    contentType: multipart/form-data
    formData:
      upload: "{{{{ outputs.file.uri }}}}"
      note: plain
"""
    async with running_engine(tmp_path) as engine:
        final, logs = await run_flow(engine, source)
    assert final.state.current == "SUCCESS", messages(logs)
    body = json.loads(run_of(final, "body").outputs["body"])
    assert body == {
        "method": "POST",
        "contentType": "application/json",
        "body": '{"hello": "post"}',
    }
    assert run_of(final, "body").outputs["code"] == 201
    form = json.loads(run_of(final, "form").outputs["body"])
    assert form["body"] == {"user": "ada", "count": "3"}
    multipart = json.loads(run_of(final, "multipart").outputs["body"])
    assert multipart["body"] == {"multipart": True}


async def test_http_error_fails_unless_allow_failed(tmp_path: Path, server: str) -> None:
    source = f"""
id: errors
namespace: company.team
tasks:
  - id: tolerated
    type: io.kestra.plugin.core.http.Request
    uri: {server}/missing
    allowFailed: true
  - id: check
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ outputs.tolerated.code }}}} {{{{ outputs.tolerated.body }}}}"
  - id: strict
    type: io.kestra.plugin.core.http.Request
    uri: {server}/missing
  - id: never
    type: io.kestra.plugin.core.log.Log
    message: not reached
"""
    async with running_engine(tmp_path) as engine:
        final, logs = await run_flow(engine, source)
    assert run_of(final, "tolerated").state.current == "SUCCESS"
    assert run_of(final, "check").outputs["value"] == "404 nothing here"
    strict = run_of(final, "strict")
    assert strict.state.current == "FAILED"
    assert strict.outputs["code"] == 404
    assert "response code '404'" in messages(logs, "strict", "ERROR")[-1]
    assert final.state.current == "FAILED"
    assert not any(r.task_id == "never" for r in final.task_run_list)


async def test_read_timeout_and_refused_connection(tmp_path: Path, server: str) -> None:
    source = f"""
id: timeouts
namespace: company.team
tasks:
  - id: slow
    type: io.kestra.plugin.core.http.Request
    uri: {server}/slow
    allowFailure: true
    options:
      readTimeout: PT0.3S
  - id: refused
    type: io.kestra.plugin.core.http.Request
    uri: http://127.0.0.1:9/nothing
    allowFailure: true
    options:
      connectTimeout: PT2S
  - id: notHttp
    type: io.kestra.plugin.core.http.Request
    uri: file:///etc/passwd
    allowFailure: true
"""
    async with running_engine(tmp_path) as engine:
        final, logs = await run_flow(engine, source)
    assert run_of(final, "slow").state.current == "WARNING"  # FAILED under allowFailure
    assert "timed out" in messages(logs, "slow", "ERROR")[-1]
    assert run_of(final, "refused").state.current == "WARNING"
    assert "failed" in messages(logs, "refused", "ERROR")[-1]
    assert "must be an http:// or https:// URL" in messages(logs, "notHttp", "ERROR")[-1]


async def test_download_to_storage_then_read(tmp_path: Path, server: str) -> None:
    source = f"""
id: download
namespace: company.team
tasks:
  - id: dl
    type: io.kestra.plugin.core.http.Download
    uri: {server}/files/export
  - id: binary
    type: io.kestra.plugin.fs.http.Download
    uri: {server}/plain/data.bin
  - id: show
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ read(outputs.dl.uri) }}}}|{{{{ fileSize(outputs.binary.uri) }}}}"
  - id: count
    type: io.kestra.plugin.scripts.shell.Commands
    inputFiles:
      data.csv: "{{{{ outputs.dl.uri }}}}"
    commands:
      - wc -l < data.csv
"""
    async with running_engine(tmp_path) as engine:
        final, logs = await run_flow(engine, source)
    assert final.state.current == "SUCCESS", messages(logs)
    dl = run_of(final, "dl")
    assert dl.outputs["code"] == 200
    assert dl.outputs["length"] == len(CSV)
    assert dl.outputs["uri"] == (
        f"kestra:///company/team/download/executions/{final.id}/tasks/dl/{dl.id}/report.csv"
    )
    assert run_of(final, "binary").outputs["uri"].endswith("/data.bin")
    assert run_of(final, "show").outputs["value"] == f"{CSV.decode()}|25600"
    assert messages(logs, "count") == ["3"]


async def test_download_of_an_empty_body_fails_by_default(tmp_path: Path, server: str) -> None:
    source = f"""
id: empty
namespace: company.team
tasks:
  - id: allowed
    type: io.kestra.plugin.core.http.Download
    uri: {server}/empty
    failOnEmptyResponse: false
  - id: refused
    type: io.kestra.plugin.core.http.Download
    uri: {server}/empty
"""
    async with running_engine(tmp_path) as engine:
        final, logs = await run_flow(engine, source)
    assert run_of(final, "allowed").outputs["length"] == 0
    assert run_of(final, "refused").state.current == "FAILED"
    assert "No response from server" in messages(logs, "refused", "ERROR")[-1]
