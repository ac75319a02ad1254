"""Cross-site writes refused (api/csrf.py): what browsers send decides, other clients pass."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from kestrad.api.csrf import SameOriginWrites

pytestmark = pytest.mark.anyio


async def ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("done")


def app() -> Starlette:
    return Starlette(
        routes=[
            Route("/write", ok, methods=["GET", "POST", "DELETE", "PUT"]),
            Route("/hook", ok, methods=["POST"]),
        ],
        middleware=[Middleware(SameOriginWrites, exempt=lambda scope: scope["path"] == "/hook")],
    )


@pytest.mark.parametrize(
    ("method", "headers", "status"),
    [
        ("POST", {}, 200),  # curl, SDKs, the CLI: no browser headers
        ("POST", {"Sec-Fetch-Site": "same-origin", "Origin": "http://kestrad"}, 200),
        # Behind a proxy that rewrites Host, the browser's own verdict still counts.
        ("POST", {"Sec-Fetch-Site": "same-origin", "Origin": "https://public.example"}, 200),
        ("POST", {"Sec-Fetch-Site": "cross-site", "Origin": "http://kestrad"}, 403),
        ("DELETE", {"Sec-Fetch-Site": "same-site"}, 403),
        ("PUT", {"Sec-Fetch-Site": "weird"}, 403),
        ("POST", {"Origin": "http://evil.example"}, 403),
        ("POST", {"Origin": "null"}, 403),
        ("POST", {"Origin": "http://kestrad"}, 200),
        ("POST", {"Origin": "http://KESTRAD"}, 200),
        ("GET", {"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}, 200),
    ],
)
async def test_writes_are_judged_by_the_browser_headers(
    method: str, headers: dict[str, str], status: int
) -> None:
    transport = httpx.ASGITransport(app())
    async with httpx.AsyncClient(transport=transport, base_url="http://kestrad") as client:
        response = await client.request(method, "/write", headers=headers)
    assert response.status_code == status
    if status == 403:
        assert response.json()["message"].startswith("Cross-site request refused")


async def test_an_exempt_route_takes_cross_site_writes() -> None:
    transport = httpx.ASGITransport(app())
    async with httpx.AsyncClient(transport=transport, base_url="http://kestrad") as client:
        response = await client.post(
            "/hook", headers={"Sec-Fetch-Site": "cross-site", "Origin": "http://x.example"}
        )
    assert response.status_code == 200


async def test_the_daemon_app_with_the_ui_refuses_cross_site_writes_but_not_webhooks() -> None:
    """As `kestrad serve` builds it: the UI's routes mounted, the webhook still open."""
    from api_support import WEBHOOK, api_client, running_engine

    from kestrad.ui.routes import ui_routes

    cross = {"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}
    async with running_engine(WEBHOOK) as engine:
        async with api_client(engine, extra_routes=ui_routes(engine)) as client:
            hook = await client.post(
                "/api/v1/main/executions/webhook/tests.api/hooked/hooked-secret",
                json={"go": True},
                headers=cross,
            )
            assert hook.status_code == 200, hook.text
            create = await client.post("/api/v1/main/executions/tests.api/hooked", headers=cross)
            assert create.status_code == 403
            kv = await client.post("/ui/kv", data={"namespace": "a", "key": "b"}, headers=cross)
            assert kv.status_code == 403
        async with api_client(engine) as without_ui:  # the API alone keeps its behaviour
            create = await without_ui.post(
                "/api/v1/main/executions/tests.api/hooked", headers=cross
            )
            assert create.status_code == 200
