"""kestrad's OpenAPI document, generated from its routes, and schemathesis fuzzing every
operation of it against a live daemon on both stores: no request may answer a 5xx (a
traceback, a crash), and every answer comes back (a hang fails the request's timeout).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from sdk_calls import HELLO, PAUSED
from sdk_support import LiveDaemon

from kestrad.api.app import api_routes
from kestrad.api.openapi import openapi_document
from tests.conftest import require_postgres

DOCUMENT = openapi_document(api_routes())
schema = schemathesis.openapi.from_dict(DOCUMENT)


def test_the_document_lists_every_route_and_its_path_parameters() -> None:
    paths = DOCUMENT["paths"]
    assert "/api/v1/{tenant}/executions/{execution_id}/actions/kill" in paths
    kill = paths["/api/v1/{tenant}/executions/{execution_id}/actions/kill"]["delete"]
    assert [p["name"] for p in kill["parameters"]] == ["tenant", "execution_id"]
    webhook = "/api/v1/{tenant}/executions/webhook/{namespace}/{id}/{key}"
    assert set(paths[webhook]) == {"get", "post", "put"}
    operations = sum(len(methods) for methods in paths.values())
    assert operations == sum(len(r.methods - {"HEAD"}) for r in api_routes())


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveDaemon]:
    if request.param == "postgres":
        require_postgres()
    daemon = LiveDaemon(tmp_path_factory.mktemp(f"fuzz-{request.param}"), request.param).start()
    client = daemon.client()
    for source in (HELLO, PAUSED):
        client.flows.create_flow("main", source)
    try:
        yield daemon
    finally:
        daemon.close()


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_request_makes_a_server_error(case, live: LiveDaemon) -> None:  # type: ignore[no-untyped-def]
    if case.path.endswith(("/follow",)):
        pytest.skip("a stream stays open by design (tested in test_api_executions)")
    case.call_and_validate(base_url=live.url, checks=[not_a_server_error], timeout=20)


def test_the_daemon_serves_its_document(live: LiveDaemon) -> None:
    status, body = live.http("GET", "/api/v1/openapi.json")
    assert status == 200 and body["paths"].keys() == DOCUMENT["paths"].keys()


def test_logs_stay_free_of_tracebacks(live: LiveDaemon) -> None:
    assert "Traceback" not in live.log(), live.log()[-3000:]
