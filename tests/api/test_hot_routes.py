"""The hot routes (api/hot.py) answer exactly what the full Starlette stack answers.

Every request here goes over a real socket to two uvicorn servers of one engine: the app
as built, and the same app with its hot routes switched off (`app.hot = None`: every
request through the middleware and the router). Status, the headers a client reads and
the body must agree; a created execution is compared without what differs between any
two executions (id, dates, the `host` header naming the server's port). The requests are
what a client, a browser or an attacker may send: credentials or none, cross-site
origins, bodies over the limit (declared or streamed), malformed and hostile paths,
forms, bad JSON, bad query parameters, and a database gone.

A separate test holds the matcher to the router: for thousands of paths built from the
routes' own words and hostile characters, a hot match names the endpoint and the path
parameters Starlette's router would.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import AsyncIterator, Iterable
from typing import Any

import anyio
import msgspec
import pytest
from api_support import FLOWS, running_engine, served
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import Scope

from kestrad.api import executions, webhooks
from kestrad.api.app import ApiApp, create_app
from kestrad.config import Config
from kestrad.runtime.engine import Engine
from kestrad.ui.routes import ui_routes

pytestmark = pytest.mark.anyio

DISABLED = """
id: resting
namespace: tests.api
disabled: true
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: k
tasks:
  - id: t
    type: io.kestra.plugin.core.log.Log
    message: hi
"""
WORDY = """
id: hooked
namespace: flows
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: k
tasks:
  - id: t
    type: io.kestra.plugin.core.log.Log
    message: hi
"""
HOOK = "/api/v1/main/executions/webhook/tests.api/hooked"
OLD_HOOK = "/api/v1/executions/webhook/tests.api/hooked"
CREATE = "/api/v1/main/executions/tests.api/hello"
# Headers whose value a client acts on; `date` changes with the second, `server` is off.
SEEN_HEADERS = (
    b"content-type",
    b"content-length",
    b"www-authenticate",
    b"retry-after",
    b"allow",
    b"location",
    b"connection",
    b"transfer-encoding",
)

Request = tuple[str, str, dict[str, str], bytes]  # method, raw target, headers, body


class Answer(msgspec.Struct):
    status: int
    headers: dict[str, str]
    body: Any


async def exchange(
    base_url: str, method: str, target: str, headers: dict[str, str], body: bytes
) -> Answer:
    """One request on its own connection, bytes as given (no client normalises the path)."""
    host, port = base_url.removeprefix("http://").split(":")
    lines = [f"{method} {target} HTTP/1.1", "Host: kestrad", "Connection: close"]
    chunked = headers.get("Transfer-Encoding") == "chunked"
    if not chunked:
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{name}: {value}" for name, value in headers.items()]
    payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if chunked:
        for start in range(0, len(body), 300):
            part = body[start : start + 300]
            payload += f"{len(part):x}\r\n".encode() + part + b"\r\n"
        payload += b"0\r\n\r\n"
    else:
        payload += body
    received = b""
    async with await anyio.connect_tcp(host, int(port)) as stream:
        with contextlib.suppress(anyio.BrokenResourceError, OSError):
            await stream.send(payload)
        with anyio.fail_after(30):
            with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                while True:
                    received += await stream.receive()
    head, _, content = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.split(b"\r\n")
    seen: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(b":")
        if name.strip().lower() in SEEN_HEADERS:
            seen[name.strip().lower().decode()] = value.strip().decode("latin-1")
    try:
        parsed: Any = msgspec.json.decode(content) if content else None
    except msgspec.DecodeError:
        parsed = content.decode("latin-1")
    return Answer(int(status_line.split(b" ", 2)[1]), seen, parsed)


def comparable(answer: Answer, method: str = "GET") -> Answer:
    """What two answers to the same request share: a created execution loses its id
    (wherever it appears), its dates and so its length. A HEAD that creates one
    carries no body to normalise, so only the presence of its length is compared:
    the dates in the unsent body may differ in digits between the two servers."""
    body = answer.body
    headers = dict(answer.headers)
    if method == "HEAD" and answer.status == 200 and "content-length" in headers:
        headers["content-length"] = "<present>"
    if isinstance(body, dict) and "id" in body and "state" in body:
        text = msgspec.json.encode(body).decode().replace(body["id"], "<id>")
        body = msgspec.json.decode(text)
        body["state"] = body["state"]["current"]
        body["metadata"] = {k: v for k, v in body["metadata"].items() if "Date" not in k}
        headers.pop("content-length", None)
    return Answer(answer.status, headers, body)


@contextlib.asynccontextmanager
async def twin_servers(engine: Engine, **options: Any) -> AsyncIterator[tuple[ApiApp, str, str]]:
    """(the hot app, its URL, the URL of the same app without hot routes)."""
    hot = create_app(engine, **options)
    full = create_app(engine, **options)
    assert hot.hot is not None and hot.hot.webhook is not None and hot.hot.create is not None
    full.hot = None
    async with served(hot) as hot_url, served(full) as full_url:
        yield hot, hot_url, full_url


async def assert_same(
    app: ApiApp, hot_url: str, full_url: str, requests: Iterable[Request]
) -> list[Answer]:
    answers = []
    for method, target, headers, body in requests:
        got = await exchange(hot_url, method, target, headers, body)
        expected = await exchange(full_url, method, target, headers, body)
        assert comparable(got, method) == comparable(expected, method), (
            method,
            target,
            headers,
            body[:80],
        )
        answers.append(got)
    return answers


def is_hot(app: ApiApp, method: str, path: str) -> bool:
    assert app.hot is not None
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    return app.hot.match(scope) is not None


JSON = {"Content-Type": "application/json"}
EVERYDAY: list[Request] = [
    ("POST", f"{HOOK}/hooked-secret?a=1&a=2&b", {"X-Thing": "yes"}, b'{"answer": 42}'),
    ("GET", f"{HOOK}/hooked-secret", {}, b""),
    ("PUT", f"{OLD_HOOK}/hooked-secret", {}, b"plain text"),
    ("POST", f"{HOOK}/picky", JSON, b'{"go": false}'),
    ("POST", f"{HOOK}/picky", JSON, b'{"go": true}'),
    ("POST", f"{HOOK}/off", {}, b""),
    ("POST", f"{HOOK}/no-such-key", {}, b""),
    ("POST", f"{HOOK}/", {}, b""),
    ("POST", "/api/v1/main/executions/webhook/tests.api/nope/k", {}, b""),
    ("POST", "/api/v1/main/executions/webhook/tests.api/resting/k", {}, b""),
    ("POST", "/api/v1/main/executions/webhook/flows/hooked/k", {}, b""),
    ("DELETE", f"{HOOK}/hooked-secret", {}, b""),
    ("HEAD", f"{HOOK}/hooked-secret", {}, b""),
    ("POST", CREATE, JSON, b'{"name": "Ada"}'),
    (
        "POST",
        "/api/v1/executions/tests.api/hello?labels=team:x&labels=env:y",
        JSON,
        b'{"name": "B"}',
    ),
    ("POST", CREATE, {"Content-Type": "application/x-www-form-urlencoded"}, b"name=Ada&count=3"),
    ("POST", CREATE, JSON, b""),
    ("POST", CREATE, JSON, b'{"name": '),
    ("POST", CREATE, JSON, b"[1, 2]"),
    ("POST", CREATE, {"Content-Type": "text/plain"}, b"name"),
    ("POST", f"{CREATE}?wait=maybe", JSON, b'{"name": "Ada"}'),
    ("POST", f"{CREATE}?nope=1", JSON, b'{"name": "Ada"}'),
    ("POST", f"{CREATE}?kind=TEST", JSON, b'{"name": "Ada"}'),
    ("POST", f"{CREATE}?scheduleDate=2030-01-01T00:00:00Z", JSON, b'{"name": "Ada"}'),
    ("POST", f"{CREATE}?labels=nocolon", JSON, b'{"name": "Ada"}'),
    ("POST", f"{CREATE}?revision=0", JSON, b'{"name": "Ada"}'),
    ("POST", f"{CREATE}?revision=1", JSON, b'{"name": "Ada"}'),
    ("POST", "/api/v1/main/executions/tests.api/nope", JSON, b"{}"),
    ("POST", "/api/v1/main/executions/tests.api/resting", JSON, b"{}"),
    ("POST", f"{CREATE}/", JSON, b"{}"),
    ("POST", "/api/v1/main/executions/some-id/resume", JSON, b"{}"),
    ("POST", "/api/v1/main/executions/restart/by-ids", JSON, b"[]"),
    ("GET", CREATE, {}, b""),
    (
        "POST",
        CREATE,
        {"Content-Type": "multipart/form-data; boundary=xx"},
        b'--xx\r\nContent-Disposition: form-data; name="name"; filename="a.txt"\r\n\r\nAda\r\n--xx--\r\n',
    ),
]
# Paths no sensible client sends: encoded slashes, newlines, NUL, invalid UTF-8, dot
# segments, empty segments, very long keys, template syntax.
HOSTILE: list[Request] = [
    ("POST", f"{HOOK}/{key}", {}, b"")
    for key in (
        "hooked%2Dsecret",
        "a%2Fb",
        "hooked-secret%0A",
        "hooked-secret%0Ax",
        "%0D%0ASet-Cookie:%20x",
        "%00",
        "%FF%FE",
        "%C3%A9t%C3%A9",
        "..%2F..%2Fflows%2Fsearch",
        "../../../flows/search",
        "a//b",
        "{{ flow.id }}-secret",
        "%7B%7B%20flow.id%20%7D%7D-secret",
        "k" * 4000,
        "%ED%A0%80",
    )
] + [
    ("POST", target, JSON, b'{"name": "Ada"}')
    for target in (
        "/api/v1/main/executions/tests.api%0A/hello",
        "/api/v1/main/executions/tests.api/hello%0A",
        "/api/v1/main/executions//hello",
        "/api/v1/main/executions/tests.api%2Fhello/x",
        "/api/v1/main/executions/%2E%2E/hello",
        "/api/v1/main//executions/tests.api/hello",
        "/api/v1/main/executions/tests.api/hello?labels=%FF:%00",
        "/api/v1/main/executions/webhook/tests.api",
    )
]


async def test_the_hot_routes_answer_as_the_full_stack_does() -> None:
    async with (
        running_engine(*FLOWS, DISABLED, WORDY) as engine,
        twin_servers(engine, body_limit=4096) as (app, hot_url, full_url),
    ):
        answers = await assert_same(app, hot_url, full_url, EVERYDAY + HOSTILE)
    # The comparison means something only if both kinds of answers were given.
    assert is_hot(app, "POST", f"{HOOK}/hooked-secret")
    assert is_hot(app, "GET", f"{OLD_HOOK}/hooked-secret")
    assert is_hot(app, "POST", CREATE)
    assert not is_hot(app, "HEAD", f"{HOOK}/hooked-secret")
    assert not is_hot(app, "POST", "/api/v1/main/executions/some-id/resume")
    statuses = {answer.status for answer in answers}
    assert {200, 204, 400, 404, 405, 409, 415, 422} <= statuses, statuses


async def test_basic_auth_on_the_hot_routes() -> None:
    config = Config()
    config.server.basic_auth.username = "admin"
    config.server.basic_auth.password = "s3cret"
    good = {"Authorization": "Basic YWRtaW46czNjcmV0"}  # admin:s3cret
    requests: list[Request] = []
    for credentials in (
        {},
        good,
        {"Authorization": "Basic YWRtaW46d3Jvbmc="},  # admin:wrong
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Bearer YWRtaW46czNjcmV0"},
        {"Authorization": "basic YWRtaW46czNjcmV0"},
    ):
        requests += [
            ("POST", CREATE, {**JSON, **credentials}, b'{"name": "Ada"}'),
            ("POST", "/api/v1/executions/tests.api/nope", {**JSON, **credentials}, b"{}"),
            ("POST", f"{HOOK}/hooked-secret", credentials, b"{}"),
            ("GET", f"{HOOK}/no-such-key", credentials, b""),
            ("POST", "/api/v1/main/executions/webhook/hello", credentials, b""),
        ]
    async with (
        running_engine(*FLOWS, config=config) as engine,
        twin_servers(engine) as (app, hot_url, full_url),
    ):
        answers = await assert_same(app, hot_url, full_url, requests)
    by_request = {
        (r[0], r[1], tuple(r[2].items())): a.status for r, a in zip(requests, answers, strict=True)
    }
    assert by_request[("POST", CREATE, tuple(JSON.items()))] == 401
    assert by_request[("POST", CREATE, tuple({**JSON, **good}.items()))] == 200
    assert by_request[("POST", f"{HOOK}/hooked-secret", ())] == 200  # the key is the secret


async def test_cross_site_writes_on_the_hot_routes_with_the_ui_on() -> None:
    requests: list[Request] = []
    for origin in (
        {},
        {"Origin": "http://evil.example"},
        {"Origin": "http://kestrad"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-origin", "Origin": "https://public.example"},
    ):
        requests += [
            ("POST", CREATE, {**JSON, **origin}, b'{"name": "Ada"}'),
            ("POST", f"{HOOK}/hooked-secret", origin, b"{}"),
        ]
    async with running_engine() as engine:
        options = {"extra_routes": ui_routes(engine)}
        async with twin_servers(engine, **options) as (app, hot_url, full_url):
            answers = await assert_same(app, hot_url, full_url, requests)
    statuses = [answer.status for answer in answers]
    assert statuses[2:4] == [403, 200]  # evil origin: the create refused, the webhook taken


async def test_body_limits_on_the_hot_routes() -> None:
    limit = 1024
    requests: list[Request] = []
    for target in (f"{HOOK}/hooked-secret", CREATE):
        for size in (limit - 20, limit + 1, 10 * limit):
            body = b'{"name": "' + b"a" * (size - 12) + b'"}'
            requests.append(("POST", target, JSON, body))
            requests.append(("POST", target, {**JSON, "Transfer-Encoding": "chunked"}, body))
    # A declared length over the limit is refused before anything is read or looked up.
    requests.append(("POST", "/api/v1/main/executions/tests.api/nope", JSON, b"x" * (limit + 1)))
    big_header = {"X-Big": "b" * (70 * 1024)}
    requests.append(("POST", f"{HOOK}/hooked-secret", big_header, b""))
    async with (
        running_engine() as engine,
        twin_servers(engine, body_limit=limit) as (app, hot_url, full_url),
    ):
        answers = await assert_same(app, hot_url, full_url, requests)
        # the two under the limit on each route, sent to both servers
        assert await engine.store.count_executions() == 8
    statuses = [answer.status for answer in answers]
    assert statuses.count(413) == 9, statuses


async def test_a_database_gone_is_503_with_retry_after_on_the_hot_routes() -> None:
    async with running_engine() as engine, twin_servers(engine) as (app, hot_url, full_url):
        await assert_same(app, hot_url, full_url, [("POST", f"{HOOK}/hooked-secret", {}, b"")])
        os.unlink(engine.store.connector.path)  # type: ignore[attr-defined]
        answers = await assert_same(
            app,
            hot_url,
            full_url,
            [
                ("POST", f"{HOOK}/hooked-secret", {}, b"{}"),
                ("POST", CREATE, JSON, b'{"name": "Ada"}'),
            ],
        )
    for answer in answers:
        assert answer.status == 503, answer
        assert answer.headers["retry-after"] == "5"
        assert "was deleted while open" in answer.body["message"]


def _paths() -> Iterable[tuple[str, str]]:
    """(method, path) for the matcher test: the routes' own words and hostile ones in
    each position below both prefixes."""
    words = ["webhook", "by-ids", "resume", "restart", "flows", "namespaces", "latest", "main"]
    words += ["search", "validate", "follow", "n.s", "f-1", "k", "", "a\nb", "x\n", " ", "é"]
    for prefix in ("/api/v1/main/executions", "/api/v1/executions", "/api/v1/executions/main"):
        for count in (1, 2, 3, 4):
            for parts in itertools.product(words, repeat=count):
                for method in ("GET", "POST", "PUT", "DELETE", "HEAD"):
                    yield method, prefix + "/" + "/".join(parts)
    yield "POST", "/api/v1/main/executions/n.s/f-1/"
    yield "POST", "/api/v1/main/executions/webhook/n.s/f-1/a/b/c"


def routed(routes: list[BaseRoute], scope: Scope) -> tuple[Any, dict[str, Any]]:
    """The endpoint and path parameters Starlette's router dispatches `scope` to."""
    for route in routes:
        match, child = route.matches(scope)
        if match != Match.FULL:
            continue
        if isinstance(route, Mount):
            return routed(route.routes, {**scope, **child})
        return child["endpoint"], child["path_params"]
    return None, {}


async def test_a_hot_match_is_the_routers_own_answer() -> None:
    async with running_engine() as engine:
        for app in (create_app(engine), create_app(engine, extra_routes=ui_routes(engine))):
            assert app.hot is not None
            hits = 0
            for method, path in _paths():
                scope = {"type": "http", "method": method, "path": path, "root_path": ""}
                hit = app.hot.match(scope)
                if hit is None:
                    continue
                hits += 1
                endpoint, params = routed(app.router.routes, scope)
                assert endpoint is hit[0].endpoint, (method, path)
                assert hit[1] == params, (method, path)
            assert hits > 500
            assert {webhooks.webhook, executions.create} == {
                app.hot.webhook.endpoint,  # type: ignore[union-attr]
                app.hot.create.endpoint,  # type: ignore[union-attr]
            }
