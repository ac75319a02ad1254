"""`GET /api/v1/metrics/{executionId}` (Kestra's MetricController) against bad input: an
unknown execution, out-of-range paging and unknown parameters are refused with a clear
status; an execution without metrics is an empty page. The happy path, with metrics, is
in tests/tasks/test_python_helper.py."""

from __future__ import annotations

import pytest
from api_support import OTHER, api_client, running_engine

pytestmark = pytest.mark.anyio


async def test_metrics_route_refuses_bad_input() -> None:
    async with running_engine(OTHER) as engine, api_client(engine) as client:
        execution = await engine.create_execution("tests.other", "other")
        await engine.wait_for(execution.id, timeout=30)
        base = f"/api/v1/main/metrics/{execution.id}"
        assert (await client.get(base)).json() == {"results": [], "total": 0}
        for query in ("size=0", "page=0", "size=99999999", "page=abc", "bogus=1"):
            response = await client.get(f"{base}?{query}")
            assert response.status_code == 400, query
        for missing in ("nope", "..%2F..%2Fetc", "%00"):
            assert (await client.get(f"/api/v1/metrics/{missing}")).status_code == 404
