"""Task logs over HTTP: the list with its filters, and the SSE follow (over a real socket)."""

from __future__ import annotations

import json
import time

import anyio
import pytest
from api_support import FLOWS, chatty_flow, http_client, running_engine, sse_events

from kestrad.model.state import parse_iso

pytestmark = pytest.mark.anyio

BASE = "/api/v1/main"
TASKS, LINES = 10, 1000


async def test_list_logs_with_level_and_task_filters() -> None:
    async with running_engine() as engine, http_client(engine) as client:
        created = await engine.create_execution("tests.api", "levels")
        await engine.wait_for(created.id)
        everything = (await client.get(f"{BASE}/logs/{created.id}")).json()
        messages = [line["message"] for line in everything]
        assert {"a debug line", "a warning", "an info line"} <= set(messages)
        sequences = [line["sequence"] for line in everything]
        assert sequences == sorted(sequences)

        warn = (await client.get(f"{BASE}/logs/{created.id}", params={"minLevel": "WARN"})).json()
        assert [line["message"] for line in warn] == ["a warning"]
        info = (await client.get(f"/api/v1/logs/{created.id}", params={"minLevel": "INFO"})).json()
        assert "a debug line" not in [line["message"] for line in info]
        quiet = (await client.get(f"{BASE}/logs/{created.id}", params={"taskId": "quiet"})).json()
        assert [line["message"] for line in quiet] == ["a debug line"]
        assert quiet[0]["taskId"] == "quiet" and quiet[0]["level"] == "DEBUG"

        bad = await client.get(f"{BASE}/logs/{created.id}", params={"minLevel": "LOUD"})
        assert bad.status_code == 400 and "LOUD" in bad.json()["message"]
        missing = await client.get(f"{BASE}/logs/nope")
        assert missing.status_code == 404


async def _follow(client, execution_id: str, *, last_event_id: str | None = None, stop_after=None):
    """(log events, final event) of one follow; stops early after `stop_after` lines."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    lines: list[dict] = []
    final = None
    async with client.stream(
        "GET", f"{BASE}/logs/{execution_id}/follow", headers=headers
    ) as response:
        assert response.status_code == 200, await response.aread()
        async for event in sse_events(response):
            if "data" not in event:
                continue
            if event.get("event"):
                final = event
                break
            event["received"] = time.time()
            lines.append(event)
            if stop_after is not None and len(lines) >= stop_after:
                break
    return lines, final


def _expected() -> set[str]:
    return {f"burst {t} line {i}" for t in range(TASKS) for i in range(LINES)}


async def test_follow_while_a_flow_logs_10000_lines_misses_and_repeats_nothing() -> None:
    flows = [*FLOWS, chatty_flow(TASKS, LINES)]
    async with running_engine(*flows) as engine, http_client(engine, poll_interval=0.2) as client:
        created = await engine.create_execution("tests.api", "chatty")
        with anyio.fail_after(120):
            lines, final = await _follow(client, created.id)
        assert final is not None and final["event"] == "end"
        messages = [json.loads(e["data"])["message"] for e in lines]
        ids = [int(e["id"]) for e in lines]
        bursts = [m for m in messages if m.startswith("burst ")]  # Sleep logs a line too
        assert len(bursts) == len(set(bursts)) == TASKS * LINES
        assert set(bursts) == _expected()
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        assert json.loads(final["data"])["lastSequence"] == ids[-1]
        done = await engine.get_execution(created.id)
        assert done is not None and done.state.current == "SUCCESS"
        # The stream was live: lines arrived while the flow was still logging.
        ended = parse_iso(done.state.histories[-1].date).timestamp()
        assert lines[0]["received"] < ended


async def test_last_event_id_resumes_right_after_the_last_line_received() -> None:
    flows = [*FLOWS, chatty_flow(4, 500, pause="PT0.1S")]
    async with running_engine(*flows) as engine, http_client(engine, poll_interval=0.2) as client:
        created = await engine.create_execution("tests.api", "chatty")
        with anyio.fail_after(120):
            first, _ = await _follow(client, created.id, stop_after=700)
            rest, final = await _follow(client, created.id, last_event_id=first[-1]["id"])
        assert final is not None and final["event"] == "end"
        combined = [json.loads(e["data"])["message"] for e in [*first, *rest]]
        bursts = [m for m in combined if m.startswith("burst ")]
        assert len(bursts) == len(set(bursts)) == 2000
        ids = [int(e["id"]) for e in [*first, *rest]]
        assert ids == sorted(set(ids))
        assert int(rest[0]["id"]) > int(first[-1]["id"])

        # Resuming a finished execution's stream sends only what follows the given id.
        again, final = await _follow(client, created.id, last_event_id=first[99]["id"])
        assert [e["id"] for e in again] == [e["id"] for e in [*first[100:], *rest]]
        assert final["event"] == "end"

        bad = await client.get(
            f"{BASE}/logs/{created.id}/follow", headers={"Last-Event-ID": "yesterday"}
        )
        assert bad.status_code == 400


async def test_follow_sends_heartbeats_and_a_final_event_on_shutdown() -> None:
    async with (
        running_engine() as engine,
        http_client(engine, poll_interval=0.1, heartbeat=0.3) as client,
    ):
        created = await engine.create_execution("tests.api", "paused")
        await engine.wait_for(created.id, lambda e: e.state.current == "PAUSED")
        seen = []
        with anyio.fail_after(20):
            async with client.stream("GET", f"{BASE}/logs/{created.id}/follow") as response:
                async for event in sse_events(response):
                    seen.append(event)
                    if event.get("comment") == "heartbeat":
                        client.app.state.api.close_streams()  # type: ignore[attr-defined]
        assert {"comment": "heartbeat"} in seen
        assert seen[-1]["event"] == "shutdown"


async def test_follow_filters_by_level() -> None:
    async with running_engine() as engine, http_client(engine, poll_interval=0.2) as client:
        created = await engine.create_execution("tests.api", "levels")
        with anyio.fail_after(20):
            async with client.stream(
                "GET", f"{BASE}/logs/{created.id}/follow", params={"minLevel": "WARN"}
            ) as response:
                events = [e async for e in sse_events(response) if "data" in e]
        assert [json.loads(e["data"])["message"] for e in events[:-1]] == ["a warning"]
        assert events[-1]["event"] == "end"
