"""What any client can throw at the server: bad routes, huge headers and bodies, no credentials,
a failing store; plus the health and metrics endpoints. Always a JSON 4xx/5xx, never a trace.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import anyio
import httpx
import pytest
from api_support import FLOWS, api_client, http_client, running_engine, served
from starlette.routing import Mount, Route

from kestrad.api.app import OPEN_ENDPOINTS, create_app
from kestrad.config import Config

pytestmark = pytest.mark.anyio

BASE = "/api/v1/main"


async def test_unknown_route_and_wrong_method_are_json() -> None:
    async with running_engine() as engine, http_client(engine) as client:
        for path in ("/nope", "/api/v1/main/nope", "/api/v1/main/executions/a/b/c/d"):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert response.headers["content-type"] == "application/json"
            assert response.json() == {"message": "no such route"}
        response = await client.put(f"{BASE}/executions/search")
        assert response.status_code == 405
        assert response.json() == {"message": "Method not allowed"}


async def _raw_request_with_huge_header(base_url: str, size: int) -> bytes:
    """Send a request whose header is `size` bytes, chunk by chunk, until the server answers.

    A client library would keep writing after the server refused and closed, and see a
    reset instead of the answer; stopping at the first readable byte shows the status.
    """
    host, port = base_url.removeprefix("http://").split(":")
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Huge: "
    payload = head + b"a" * size + b"\r\n\r\n"
    async with await anyio.connect_tcp(host, int(port)) as stream:
        for start in range(0, len(payload), 8192):
            try:
                await stream.send(payload[start : start + 8192])
            except (anyio.BrokenResourceError, OSError):
                break
            with anyio.move_on_after(0.01):
                return await stream.receive()
        with anyio.fail_after(5):
            return await stream.receive()


async def test_a_1mb_header_is_refused_with_a_4xx() -> None:
    async with running_engine() as engine:
        app = create_app(engine)
        async with served(app) as base_url:
            answer = await _raw_request_with_huge_header(base_url, 1024 * 1024)
        status = int(answer.split(b" ", 2)[1])
        assert 400 <= status < 500, answer[:200]
        assert b"Traceback" not in answer


async def test_headers_over_the_app_limit_are_431_json() -> None:
    # uvicorn refuses these before the app sees them; another server might not.
    async with running_engine() as engine, api_client(engine) as client:
        response = await client.get("/health", headers={"X-Big": "b" * (70 * 1024)})
        assert response.status_code == 431
        assert response.json()["message"]


async def test_oversized_bodies_are_413_with_or_without_content_length() -> None:
    async with running_engine() as engine, http_client(engine, body_limit=1024) as client:
        big = b"x" * 4096
        response = await client.post(
            f"{BASE}/executions/tests.api/hello",
            content=big,
            headers={"content-type": "text/plain"},
        )
        assert response.status_code == 413
        assert "larger than 1024" in response.json()["message"]

        async def chunks():
            for _ in range(8):
                yield b"{" + b" " * 510 + b"}"

        streamed = await client.post(
            "/api/v1/executions/webhook/tests.api/hooked/hooked-secret", content=chunks()
        )
        assert streamed.status_code == 413
        assert streamed.json()["message"]
        assert await engine.store.count_executions() == 0


async def test_an_unexpected_exception_is_a_logged_500_without_details(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with running_engine() as engine, http_client(engine) as client:

        async def broken(execution_id: str) -> None:
            raise RuntimeError("secret internals")

        engine.get_execution = broken  # type: ignore[method-assign]
        response = await client.get(f"{BASE}/executions/some-id")
        assert response.status_code == 500
        assert response.json() == {"message": "internal error"}
        assert "secret internals" not in response.text
        assert any("secret internals" in r.getMessage() or r.exc_info for r in caplog.records)


async def test_basic_auth_protects_everything_but_health_and_webhooks() -> None:
    config = Config()
    config.server.basic_auth.username = "admin"
    config.server.basic_auth.password = "s3cret"
    async with running_engine(*FLOWS, config=config) as engine, http_client(engine) as client:
        response = await client.get(f"{BASE}/flows/search")
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Basic realm=")
        assert response.json() == {"message": "Unauthorized"}
        assert (await client.get("/metrics")).status_code == 401
        assert (
            await client.get(f"{BASE}/flows/search", auth=("admin", "wrong"))
        ).status_code == 401
        garbage = {"Authorization": "Basic !!!not-base64"}
        assert (await client.get(f"{BASE}/flows/search", headers=garbage)).status_code == 401
        token = base64.b64encode(b"admin:s3cret").decode()
        bearer = {"Authorization": f"Bearer {token}"}
        assert (await client.get(f"{BASE}/flows/search", headers=bearer)).status_code == 401
        ok = await client.get(f"{BASE}/flows/search", auth=("admin", "s3cret"))
        assert ok.status_code == 200
        assert (await client.get("/health")).status_code == 200
        hook = await client.get("/api/v1/executions/webhook/tests.api/hooked/hooked-secret")
        assert hook.status_code == 200


def _every_route(routes: list[Any], prefix: str = "") -> list[tuple[str, str, Any]]:
    """(method, concrete path, endpoint) of every route of the app, Mounts entered; every
    path parameter is `webhook`, the word the old prefix rule trusted."""
    out: list[tuple[str, str, Any]] = []
    for route in routes:
        if isinstance(route, Mount):
            out += _every_route(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            path = re.sub(r"\{[^}]+\}", "webhook", prefix + route.path)
            out += [(method, path, route.endpoint) for method in sorted(route.methods or ())]
    return out


async def test_basic_auth_guards_every_route_of_the_router_but_the_open_ones() -> None:
    """Derived from the router itself, so a route added later is covered without a test edit."""
    config = Config()
    config.server.basic_auth.username = "admin"
    config.server.basic_auth.password = "s3cret"
    async with running_engine(*FLOWS, config=config) as engine:
        app = create_app(engine)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            routes = _every_route(app.router.routes)
            assert len(routes) > 30
            for method, path, endpoint in routes:
                response = await client.request(method, path)
                if endpoint in OPEN_ENDPOINTS:
                    assert response.status_code != 401, (method, path)
                else:
                    assert response.status_code == 401, (method, path, response.text)
            # What the prefix rule used to let through: a flow of namespace `webhook`
            # created, an execution whose id is `webhook`, and its sub-resources.
            for method, path in (
                ("POST", "/api/v1/main/executions/webhook/hello"),
                ("POST", "/api/v1/executions/webhook/hello"),
                ("GET", "/api/v1/main/executions/webhook"),
                ("GET", "/api/v1/main/executions/webhook/follow"),
                ("DELETE", "/api/v1/main/executions/webhook/kill"),
                ("GET", "/api/v1/main/executions/webhook/../../flows/search"),
                ("GET", "/api/v1/main/executions/webhook/a/b/c/../../../../flows/search"),
                ("GET", "/nope"),
                ("DELETE", "/api/v1/main/executions/webhook/tests.api/hooked/hooked-secret"),
            ):
                response = await client.request(method, path)
                assert response.status_code == 401, (method, path, response.text)


async def test_health_reports_the_database_and_the_instance() -> None:
    async with running_engine() as engine, http_client(engine) as client:
        response = await client.get("/health")
        assert response.status_code == 200
        assert response.json() == {
            "status": "UP",
            "database": "UP",
            "instance": engine.instance_id,
        }

        async def down(instance_id: str) -> None:
            raise OSError("disk on fire")

        # The real faults (a deleted SQLite file, a full disk) are in
        # tests/daemon/test_store_faults.py; this only checks the answer's shape.
        engine.store.ping_write = down  # type: ignore[method-assign]
        response = await client.get("/health")
        assert response.status_code == 503
        assert response.json()["status"] == "DOWN" and response.json()["database"] == "DOWN"


async def test_metrics_show_executions_task_runs_and_queues() -> None:
    async with running_engine() as engine, http_client(engine) as client:
        paused = await engine.create_execution("tests.api", "paused")
        await engine.wait_for(paused.id, lambda e: e.state.current == "PAUSED")
        done = await client.post(f"{BASE}/executions/tests.api/hello?wait=true", json={"name": "M"})
        assert done.json()["state"]["current"] == "SUCCESS"
        response = await client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        text = response.text
        flow = 'flow_id="hello",namespace="tests.api"'
        assert f'kestrad_executions_ended_total{{{flow},state="SUCCESS"}} 1.0' in text
        assert 'kestrad_executions{state="PAUSED"} 1.0' in text
        assert f'kestrad_task_run_duration_seconds_count{{{flow},state="SUCCESS"}} 2.0' in text
        assert f'kestrad_execution_duration_seconds_count{{{flow},state="SUCCESS"}} 1.0' in text
        assert "process_resident_memory_bytes" in text and "python_info" in text
        assert 'kestrad_queue_depth{topic="execution"}' in text
        assert 'kestrad_queue_depth{topic="worker"}' in text
        assert 'kestrad_queue_poll_latency_seconds{topic="execution"}' in text
        assert "kestrad_scheduler_tick_seconds_count 0.0" in text

        await engine.kill(paused.id)
        await engine.wait_for(paused.id)
        text = (await client.get("/metrics")).text
        assert 'kestrad_executions{state="PAUSED"} 0.0' in text
        killed = 'flow_id="paused",namespace="tests.api",state="KILLED"'
        assert f"kestrad_executions_ended_total{{{killed}}} 1.0" in text
