"""`GET executions/search`: keyset cursor (`after` → `next`), Kestra's numbered pages, and
`total` only when asked."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from api_support import OTHER, api_client, running_engine

from kestrad.model.execution import Execution
from kestrad.model.state import History, StateInfo

pytestmark = pytest.mark.anyio

SEARCH = "/api/v1/main/executions/search"


def execution(i: int, state: str, start: str) -> Execution:
    e = Execution.new(namespace="tests.list", flow_id="many", flow_revision=1)
    e.id = f"e{i:04d}"
    e.state = StateInfo(current=state, histories=[History(state=state, date=start)])
    return e


def sample() -> list[Execution]:
    return [
        execution(i, "FAILED" if i % 4 == 0 else "SUCCESS", f"2026-01-01T00:00:{i // 3:02d}.0Z")
        for i in range(23)
    ]


def newest_first(executions: list[Execution]) -> list[str]:
    return [e.id for e in sorted(executions, key=lambda e: (e.state.start_date, e.id))][::-1]


async def get(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get(SEARCH, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_cursor_pages_cover_everything_once_without_a_count() -> None:
    async with running_engine(OTHER) as engine, api_client(engine) as client:
        executions = sample()
        await engine.store.create_executions(executions)
        seen: list[str] = []
        params: dict[str, Any] = {"namespace": "tests.list", "size": 5}
        while True:
            body = await get(client, **params)
            assert "total" not in body
            seen += [e["id"] for e in body["results"]]
            if body["next"] is None:
                break
            params["after"] = body["next"]
        assert seen == newest_first(executions)

        failed = await get(client, namespace="tests.list", state="FAILED", size=2, count="true")
        assert failed["total"] == 6
        assert [e["id"] for e in failed["results"]] == ["e0020", "e0016"]


async def test_numbered_pages_work_like_kestras_with_a_total() -> None:
    async with running_engine(OTHER) as engine, api_client(engine) as client:
        executions = sample()
        await engine.store.create_executions(executions)
        want = newest_first(executions)
        pages = [await get(client, flowId="many", page=n, size=10) for n in (1, 2, 3, 4)]
        assert [p["total"] for p in pages] == [23] * 4
        assert [e["id"] for p in pages for e in p["results"]] == want
        assert pages[3]["results"] == [] and pages[2]["next"] is None
        # Every page still offers the cursor: a client may switch to it at any point.
        after_two = await get(client, flowId="many", after=pages[1]["next"], size=10)
        assert after_two["results"] == pages[2]["results"]
        assert "total" not in await get(client, page=1, count="false")


async def test_a_cursor_page_does_not_move_when_executions_arrive() -> None:
    async with running_engine(OTHER) as engine, api_client(engine) as client:
        executions = sample()
        await engine.store.create_executions(executions)
        first = await get(client, namespace="tests.list", size=4)
        later = [execution(100 + i, "SUCCESS", "2026-06-01T00:00:00.0Z") for i in range(3)]
        await engine.store.create_executions(later)
        second = await get(client, namespace="tests.list", size=4, after=first["next"])
        assert [e["id"] for e in second["results"]] == newest_first(executions)[4:8]


async def test_malformed_paging_is_a_400() -> None:
    async with running_engine(OTHER) as engine, api_client(engine) as client:
        cursor = "WyIyMDI2LTAxLTAxIiwiZTEiXQ"  # ["2026-01-01","e1"]
        for bad in (
            {"page": "0"},
            {"page": "x"},
            {"after": "!!!"},
            {"after": "bm90IGEgcGFpcg"},
            {"after": cursor, "page": "2"},
            {"count": "maybe"},
        ):
            response = await client.get(SEARCH, params=bad)
            assert response.status_code == 400, bad
            assert response.json()["message"]
        assert (await client.get(SEARCH, params={"after": cursor, "page": "1"})).status_code == 200
