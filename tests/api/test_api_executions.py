"""Executions over HTTP: create (form, JSON, labels, wait), get, search, kill, resume, follow."""

from __future__ import annotations

import json

import anyio
import pytest
from api_support import FLOWS, OTHER, api_client, http_client, running_engine, sse_events

pytestmark = pytest.mark.anyio

BASE = "/api/v1/main"


async def test_create_with_form_inputs_and_labels_then_get_it() -> None:
    async with running_engine() as engine, api_client(engine) as client:
        response = await client.post(
            f"{BASE}/executions/tests.api/hello",
            data={"name": "Ada", "labels": "origin:form"},
            params={"labels": ["env:test", "owner:me"]},
        )
        assert response.status_code == 200, response.text
        created = response.json()
        assert created["state"]["current"] == "CREATED"
        assert created["inputs"] == {"name": "Ada", "count": 2}
        labels = {label["key"]: label["value"] for label in created["labels"]}
        assert labels["team"] == "data" and labels["env"] == "test"
        assert labels["owner"] == "me" and labels["origin"] == "form"

        done = await engine.wait_for(created["id"])
        assert done.state.current == "SUCCESS"
        fetched = await client.get(f"/api/v1/executions/{created['id']}")
        assert fetched.status_code == 200
        assert fetched.json()["outputs"] == {"greeting": "Hello Ada"}
        assert fetched.json()["taskRunList"][0]["taskId"] == "greet"


async def test_create_with_json_inputs_and_wait_returns_the_final_execution() -> None:
    async with running_engine() as engine, api_client(engine) as client:
        response = await client.post(
            "/api/v1/executions/tests.api/hello?wait=true", json={"name": "Bob", "count": 5}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["state"]["current"] == "SUCCESS"
        assert body["inputs"] == {"name": "Bob", "count": 5}
        assert body["outputs"] == {"greeting": "Hello Bob"}


async def test_invalid_inputs_get_one_message_per_input() -> None:
    async with running_engine() as engine, api_client(engine) as client:
        response = await client.post(f"{BASE}/executions/tests.api/hello", data={"count": "many"})
        assert response.status_code == 422
        body = response.json()
        assert {e["input"] for e in body["errors"]} == {"name", "count"}
        assert all(e["message"] for e in body["errors"])
        assert "name" in body["message"] and "count" in body["message"]


@pytest.mark.parametrize(
    ("kwargs", "status", "fragment"),
    [
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "JSON"),
        ({"json": [1, 2]}, 400, "object"),
        ({"content": b"x", "headers": {"content-type": "text/csv"}}, 415, "text/csv"),
        ({"params": {"labels": "novalue"}, "json": {"name": "x"}}, 400, "label"),
        ({"params": {"wait": "maybe"}, "json": {"name": "x"}}, 400, "wait"),
        ({"files": {"name": ("a.txt", b"hello")}}, 422, "Invalid inputs"),
    ],
)
async def test_malformed_create_requests_get_a_4xx_json_error(
    kwargs: dict, status: int, fragment: str
) -> None:
    async with running_engine() as engine, api_client(engine) as client:
        response = await client.post(f"{BASE}/executions/tests.api/hello", **kwargs)
        assert response.status_code == status, response.text
        assert fragment.lower() in response.json()["message"].lower()


async def test_unknown_flow_and_unknown_execution_are_404() -> None:
    async with running_engine() as engine, api_client(engine) as client:
        response = await client.post(f"{BASE}/executions/tests.api/nope", json={})
        assert response.status_code == 404
        assert response.json()["message"] == "Flow not found"
        response = await client.get(f"{BASE}/executions/doesnotexist")
        assert response.status_code == 404
        assert response.json()["message"] == "Execution not found"


async def test_a_disabled_flow_is_409() -> None:
    disabled = OTHER.replace("id: other", "id: off") + "disabled: true\n"
    async with running_engine(*FLOWS, disabled) as engine, api_client(engine) as client:
        response = await client.post(f"{BASE}/executions/tests.other/off")
        assert response.status_code == 409
        assert response.json()["message"] == "Flow is disabled"


async def test_search_pages_with_a_cursor_and_counts_only_when_asked() -> None:
    async with running_engine() as engine, api_client(engine) as client:
        ids = set()
        for i in range(5):
            created = await engine.create_execution("tests.api", "hello", {"name": f"n{i}"})
            ids.add(created.id)
        other = await engine.create_execution("tests.other", "other")
        for eid in [*ids, other.id]:
            await engine.wait_for(eid)

        seen: list[str] = []
        after = None
        while True:
            params = {"namespace": "tests.api", "flowId": "hello", "size": 2}
            if after:
                params["after"] = after
            page = (await client.get(f"{BASE}/executions/search", params=params)).json()
            assert "total" not in page
            seen += [e["id"] for e in page["results"]]
            after = page["next"]
            if after is None:
                break
        assert len(seen) == len(set(seen)) == 5 and set(seen) == ids
        dates = [(await engine.get_execution(eid)).state.start_date for eid in seen]
        assert dates == sorted(dates, reverse=True)

        everything = (await client.get("/api/v1/executions", params={"count": "true"})).json()
        assert everything["total"] == 6 and len(everything["results"]) == 6
        by_ns = await client.get(f"{BASE}/executions/search", params={"namespace": "tests.other"})
        assert [e["id"] for e in by_ns.json()["results"]] == [other.id]
        by_state = await client.get(
            f"{BASE}/executions/search", params={"state": "SUCCESS", "count": "true"}
        )
        assert by_state.json()["total"] == 6
        failed = await client.get(f"{BASE}/executions/search", params={"state": "FAILED"})
        assert failed.json()["results"] == []

        for bad in ({"after": "!!!"}, {"state": "NOPE"}, {"size": "0"}, {"size": "x"}):
            response = await client.get(f"{BASE}/executions/search", params=bad)
            assert response.status_code == 400, bad
            assert response.json()["message"]


async def test_kill_a_running_execution() -> None:
    async with running_engine() as engine, api_client(engine) as client:
        created = await engine.create_execution("tests.api", "sleepy")
        await engine.wait_for(created.id, lambda e: e.state.current == "RUNNING")
        response = await client.delete(f"{BASE}/executions/{created.id}/kill")
        assert response.status_code == 202
        done = await engine.wait_for(created.id, timeout=10)
        assert done.state.current == "KILLED"
        again = await client.delete(f"{BASE}/executions/{created.id}/kill")
        assert again.status_code == 409
        missing = await client.delete(f"{BASE}/executions/nope/kill")
        assert missing.status_code == 404


async def test_resume_a_paused_execution() -> None:
    async with running_engine() as engine, api_client(engine) as client:
        created = await engine.create_execution("tests.api", "paused")
        await engine.wait_for(created.id, lambda e: e.state.current == "PAUSED")
        response = await client.post(f"{BASE}/executions/{created.id}/resume")
        assert response.status_code == 204, response.text
        done = await engine.wait_for(created.id, timeout=10)
        assert done.state.current == "SUCCESS"
        again = await client.post(f"{BASE}/executions/{created.id}/resume")
        assert again.status_code == 409


async def test_restart_runs_the_failed_task_again_and_replay_makes_a_new_execution() -> None:
    failing = (
        "id: failing\nnamespace: tests.api\ntasks:\n"
        "  - id: boom\n    type: io.kestra.plugin.core.execution.Fail\n"
    )
    async with running_engine(*FLOWS, failing) as engine, api_client(engine) as client:
        created = await engine.create_execution("tests.api", "failing")
        assert (await engine.wait_for(created.id)).state.current == "FAILED"
        response = await client.post(f"{BASE}/executions/{created.id}/restart")
        assert response.status_code == 202, response.text
        restarted = await engine.wait_for(
            created.id, lambda e: e.terminated and e.state.has("RESTARTED")
        )
        assert restarted.state.current == "FAILED"
        assert len(restarted.task_run_list[0].attempts) == 2

        hello = await engine.create_execution("tests.api", "hello", {"name": "R"})
        await engine.wait_for(hello.id)
        replayed = await client.post(f"{BASE}/executions/{hello.id}/replay")
        assert replayed.status_code == 200, replayed.text
        body = replayed.json()
        assert body["id"] != hello.id and body["originalId"] == hello.id
        assert (await engine.wait_for(body["id"])).state.current == "SUCCESS"
        bad = await client.post(f"{BASE}/executions/{hello.id}/replay?taskRunId=nope")
        assert bad.status_code == 422

        running = await engine.create_execution("tests.api", "sleepy")
        await engine.wait_for(running.id, lambda e: e.state.current == "RUNNING")
        early = await client.post(f"{BASE}/executions/{running.id}/restart")
        assert early.status_code == 409
        assert (await client.post(f"{BASE}/executions/nope/restart")).status_code == 404


async def test_follow_sends_the_stored_state_every_change_and_end() -> None:
    async with running_engine() as engine, http_client(engine, poll_interval=0.2) as client:
        created = await engine.create_execution("tests.api", "hello", {"name": "Eve"})
        events = []
        with anyio.fail_after(20):
            async with client.stream("GET", f"{BASE}/executions/{created.id}/follow") as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                async for event in sse_events(response):
                    if "data" in event:
                        events.append(event)
        assert events[0]["id"] == "progress"
        assert events[-1]["event"] == "end" and events[-1]["id"] == "end"
        assert json.loads(events[-1]["data"])["state"]["current"] == "SUCCESS"
        assert all(e.get("event") != "end" for e in events[:-1])
        states = [json.loads(e["data"])["state"]["current"] for e in events]
        assert states[-1] == "SUCCESS"

        # A finished execution: one `end` event and the stream closes.
        async with client.stream("GET", f"/api/v1/executions/{created.id}/follow") as response:
            finished = [e async for e in sse_events(response) if "data" in e]
        assert [e["event"] for e in finished] == ["end"]


async def test_follow_of_an_unknown_execution_is_404_after_waiting() -> None:
    async with running_engine() as engine, http_client(engine, follow_wait=0.3) as client:
        response = await client.get(f"{BASE}/executions/nope/follow")
        assert response.status_code == 404
        assert response.json()["message"] == "Execution not found"


async def test_follow_of_a_paused_execution_ends_with_the_daemon() -> None:
    async with (
        running_engine() as engine,
        http_client(engine, poll_interval=0.1, heartbeat=0.3) as client,
    ):
        created = await engine.create_execution("tests.api", "paused")
        await engine.wait_for(created.id, lambda e: e.state.current == "PAUSED")
        seen = []
        with anyio.fail_after(20):
            async with client.stream("GET", f"{BASE}/executions/{created.id}/follow") as response:
                async for event in sse_events(response):
                    seen.append(event)
                    if event.get("comment") == "heartbeat":
                        client.app.state.api.close_streams()  # type: ignore[attr-defined]
        assert seen[0]["id"] == "progress"
        assert {"comment": "heartbeat"} in seen
        assert seen[-1]["event"] == "shutdown"
