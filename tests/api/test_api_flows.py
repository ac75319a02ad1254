"""Flows as YAML over HTTP: create, get, update, delete, search, validate."""

from __future__ import annotations

import pytest
from api_support import OTHER, api_client, running_engine

pytestmark = pytest.mark.anyio

BASE = "/api/v1/main"
YAML = {"content-type": "application/x-yaml"}
NEW = """# a comment that must survive
id: fresh
namespace: tests.flows
description: A new flow
labels:
  owner: api
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: hello
"""
BROKEN = """id: broken
namespace: tests.flows
tasks:
  - id: one
    type: io.kestra.plugin.core.log.Nope
  - id: two
    type: io.kestra.plugin.core.log.Log
"""


async def test_create_get_update_delete() -> None:
    async with running_engine(OTHER) as engine, api_client(engine) as client:
        created = await client.post(f"{BASE}/flows", content=NEW, headers=YAML)
        assert created.status_code == 200, created.text
        summary = created.json()
        assert (summary["namespace"], summary["id"], summary["revision"]) == (
            "tests.flows",
            "fresh",
            1,
        )
        assert summary["labels"] == [{"key": "owner", "value": "api"}]
        assert summary["tasks"] == [
            {"id": "say", "type": "io.kestra.plugin.core.log.Log", "message": "hello"}
        ]
        assert summary["source"] == NEW

        duplicate = await client.post("/api/v1/flows", content=NEW, headers=YAML)
        assert duplicate.status_code == 409

        source = await client.get(
            f"{BASE}/flows/tests.flows/fresh", headers={"accept": "application/x-yaml"}
        )
        assert source.status_code == 200
        assert source.headers["content-type"].startswith("application/x-yaml")
        assert source.text == NEW
        as_json = await client.get(f"{BASE}/flows/tests.flows/fresh", params={"source": "false"})
        assert as_json.json()["description"] == "A new flow"

        updated = await client.put(
            f"{BASE}/flows/tests.flows/fresh", content=NEW.replace("hello", "hi"), headers=YAML
        )
        assert updated.status_code == 200 and updated.json()["revision"] == 2
        run = await client.post(f"{BASE}/executions/tests.flows/fresh?wait=true")
        assert run.json()["flowRevision"] == 2 and run.json()["state"]["current"] == "SUCCESS"

        mismatch = await client.put(f"{BASE}/flows/tests.flows/other", content=NEW, headers=YAML)
        assert mismatch.status_code == 422 and "must match" in mismatch.json()["message"]
        unknown = await client.put(
            f"{BASE}/flows/tests.flows/ghost",
            content=NEW.replace("id: fresh", "id: ghost"),
            headers=YAML,
        )
        assert unknown.status_code == 404

        deleted = await client.delete(f"{BASE}/flows/tests.flows/fresh")
        assert deleted.status_code == 204
        assert (await client.get(f"{BASE}/flows/tests.flows/fresh")).status_code == 404
        assert (await client.delete(f"{BASE}/flows/tests.flows/fresh")).status_code == 404
        gone = await client.post(f"{BASE}/executions/tests.flows/fresh")
        assert gone.status_code == 404

        # A deleted flow can be created again.
        again = await client.post(f"{BASE}/flows", content=NEW, headers=YAML)
        assert again.status_code == 200


async def test_an_invalid_flow_is_refused_with_every_problem_and_its_position() -> None:
    async with running_engine(OTHER) as engine, api_client(engine) as client:
        response = await client.post(f"{BASE}/flows", content=BROKEN, headers=YAML)
        assert response.status_code == 422
        problems = response.json()["problems"]
        assert len(problems) == 2
        assert [(p["line"], p["column"], p["path"]) for p in problems] == [
            (5, 11, "tasks[0].type"),
            (6, 5, "tasks[1]"),
        ]
        assert "missing required property `message`" in response.json()["message"]
        assert all(p["text"].startswith(f"{p['line']}:{p['column']}") for p in problems)
        assert (await client.get(f"{BASE}/flows/tests.flows/broken")).status_code == 404

        for body in ("", "just a string", "\tnot: [yaml", "id: x\n"):
            response = await client.post(f"{BASE}/flows", content=body, headers=YAML)
            assert response.status_code == 422, body
            assert response.json()["message"]
        undecodable = await client.post(f"{BASE}/flows", content=b"\xff\xfe", headers=YAML)
        assert undecodable.status_code == 400


async def test_validate_reports_each_document_without_saving() -> None:
    async with running_engine(OTHER) as engine, api_client(engine) as client:
        response = await client.post(
            f"{BASE}/flows/validate", content=NEW + "---\n" + BROKEN, headers=YAML
        )
        assert response.status_code == 200
        first, second = response.json()
        assert first["flow"] == "fresh" and first["problems"] == [] and first["constraints"] is None
        assert second["problems"] and second["constraints"]
        # Lines count from the top of the whole text, not of the document.
        assert min(p["line"] for p in second["problems"]) > NEW.count("\n") + 1
        assert (await client.get(f"{BASE}/flows/tests.flows/fresh")).status_code == 404
        assert first["warnings"] == []

        legacy = NEW.replace("io.kestra.plugin.core.log.Log", "io.kestra.core.tasks.log.Log")
        response = await client.post(f"{BASE}/flows/validate", content=legacy, headers=YAML)
        [entry] = response.json()
        assert entry["problems"] == [] and entry["warnings"] == [
            "9:11: tasks[0].type: `io.kestra.core.tasks.log.Log` is replaced by "
            "`io.kestra.plugin.core.log.Log`"
        ]


async def test_search_by_namespace_prefix_and_text() -> None:
    async with running_engine(OTHER) as engine, api_client(engine) as client:
        await client.post(f"{BASE}/flows", content=NEW, headers=YAML)
        await client.post(
            f"{BASE}/flows",
            content=NEW.replace("namespace: tests.flows", "namespace: tests.flows.sub"),
            headers=YAML,
        )
        everything = (await client.get(f"{BASE}/flows/search")).json()
        assert everything["total"] == 3
        scoped = (
            await client.get(f"{BASE}/flows/search", params={"namespace": "tests.flows"})
        ).json()
        assert sorted(f["namespace"] for f in scoped["results"]) == [
            "tests.flows",
            "tests.flows.sub",
        ]
        text = (await client.get("/api/v1/flows/search", params={"q": "oth"})).json()
        assert [f["id"] for f in text["results"]] == ["other"]
        paged = (await client.get(f"{BASE}/flows/search", params={"size": 1, "page": 2})).json()
        assert len(paged["results"]) == 1 and paged["total"] == 3
