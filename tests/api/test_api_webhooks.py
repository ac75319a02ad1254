"""Webhook triggers over a real socket: body, headers, parameters, keys, conditions, auth."""

from __future__ import annotations

import anyio
import pytest
from api_support import FLOWS, WEBHOOK, api_client, http_client, running_engine

from kestrad.config import Config

pytestmark = pytest.mark.anyio

HOOK = "/api/v1/main/executions/webhook/tests.api/hooked"


async def test_post_json_body_headers_and_parameters_reach_the_execution() -> None:
    async with running_engine() as engine, http_client(engine) as client:
        response = await client.post(
            f"{HOOK}/hooked-secret?a=1&a=2&b=x",
            json={"answer": 42},
            headers={"X-Thing": "yes"},
        )
        assert response.status_code == 200, response.text
        created = response.json()
        assert created["state"]["current"] == "CREATED"
        trigger = created["trigger"]
        assert trigger["id"] == "plain"
        assert trigger["type"] == "io.kestra.plugin.core.trigger.Webhook"
        variables = trigger["variables"]
        assert variables["body"] == {"answer": 42}
        assert variables["headers"]["x-thing"] == ["yes"]
        assert variables["parameters"] == {"a": ["1", "2"], "b": ["x"]}

        done = await engine.wait_for(created["id"])
        assert done.state.current == "SUCCESS"
        assert done.inputs == {"who": "nobody"}
        logs = [entry.message for entry in await engine.logs(created["id"])]
        assert 'body={"answer":42} who=nobody' in logs


@pytest.mark.parametrize(
    ("method", "content", "expected"),
    [
        ("POST", b"[1, 2, 3]", [1, 2, 3]),
        ("PUT", b"plain text", "plain text"),
        ("POST", b"42", "42"),
        ("GET", None, None),
    ],
)
async def test_body_is_json_object_or_array_else_text_else_null(
    method: str, content: bytes | None, expected: object
) -> None:
    async with running_engine() as engine, http_client(engine) as client:
        response = await client.request(method, f"{HOOK}/hooked-secret", content=content)
        assert response.status_code == 200, response.text
        assert response.json()["trigger"]["variables"]["body"] == expected


async def test_unknown_flow_and_unknown_key_are_404() -> None:
    async with running_engine() as engine, http_client(engine) as client:
        response = await client.post("/api/v1/executions/webhook/tests.api/nope/key")
        assert response.status_code == 404
        assert response.json()["message"] == "Flow not found"
        response = await client.post(f"{HOOK}/wrong-key")
        assert response.status_code == 404
        assert response.json()["message"] == "Webhook not found"
        disabled = await client.post(f"{HOOK}/off")
        assert disabled.status_code == 404
        wrong_method = await client.delete(f"{HOOK}/hooked-secret")
        assert wrong_method.status_code == 405
        assert wrong_method.json()["message"]


async def test_condition_false_is_204_and_true_creates_the_execution() -> None:
    async with running_engine() as engine, http_client(engine) as client:
        skipped = await client.post(f"{HOOK}/picky", json={"go": False})
        assert skipped.status_code == 204
        assert await engine.store.count_executions() == 0
        started = await client.post(f"{HOOK}/picky", json={"go": True})
        assert started.status_code == 200
        assert started.json()["trigger"]["id"] == "picky"


async def test_a_new_revision_changes_the_key_at_once() -> None:
    async with running_engine() as engine, http_client(engine) as client:
        assert (await client.post(f"{HOOK}/hooked-secret")).status_code == 200
        await engine.deploy_source(WEBHOOK.replace("{{ flow.id }}-secret", "rotated"))
        assert (await client.post(f"{HOOK}/hooked-secret")).status_code == 404
        assert (await client.post(f"{HOOK}/rotated")).status_code == 200
        await engine.delete_flow("tests.api", "hooked")
        gone = await client.post(f"{HOOK}/rotated")
        assert gone.status_code == 404 and gone.json()["message"] == "Flow not found"


async def test_webhooks_stay_open_under_basic_auth() -> None:
    config = Config()
    config.server.basic_auth.username = "admin"
    config.server.basic_auth.password = "s3cret"
    async with running_engine(*FLOWS, config=config) as engine, http_client(engine) as client:
        assert (await client.post(f"{HOOK}/hooked-secret")).status_code == 200
        assert (await client.get("/api/v1/main/flows/search")).status_code == 401


async def test_many_concurrent_webhook_calls_each_create_one_execution() -> None:
    async with running_engine() as engine, http_client(engine) as client:
        ids: list[str] = []

        async def call() -> None:
            response = await client.post(f"{HOOK}/hooked-secret", json={"n": 1})
            assert response.status_code == 200
            ids.append(response.json()["id"])

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for _ in range(50):
                    tg.start_soon(call)
            for eid in ids:
                assert (await engine.wait_for(eid)).state.current == "SUCCESS"
        assert len(set(ids)) == 50


async def test_concurrent_creations_share_transactions() -> None:
    async with running_engine() as engine, api_client(engine) as client:
        batches: list[int] = []
        original = engine.store.executor_batch

        async def recording(limit, handler, local=None):  # type: ignore[no-untyped-def]
            if local is not None and local.created:
                batches.append(len(local.created))
            return await original(limit, handler, local)

        engine.store.executor_batch = recording  # type: ignore[method-assign]

        async def call() -> None:
            response = await client.post(f"{HOOK}/hooked-secret")
            assert response.status_code == 200

        async with anyio.create_task_group() as tg:
            for _ in range(40):
                tg.start_soon(call)
        assert sum(batches) == 40
        assert len(batches) < 40  # some requests were stored together
