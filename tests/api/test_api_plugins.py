"""`/api/v1/plugins…`, `/api/v1/configs` and the expression listings: what Kestra's editors
and SDK read before anything else. Schemas are checked for real: every flow the loader
accepts (the examples and Kestra's own test flows) must validate against the FLOW schema.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import jsonschema
import pytest
from api_support import running_engine
from ruamel.yaml import YAML

from kestrad.api.app import create_app
from kestrad.config import Config
from kestrad.flows.loader import FlowLoadError, load_file

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]
CORPORA = [
    REPO / "examples" / "flows",
    REPO / "tests" / "conformance" / "kestra1x" / "valids",
    Path(os.environ.get("KESTRAD_CONFORMANCE_DIR") or REPO.parent / "shared" / "conformance")
    / "valids",
]


def _client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_the_listing_names_every_task_and_trigger_type() -> None:
    async with running_engine() as engine, _client(create_app(engine)) as client:
        listing = (await client.get("/api/v1/plugins")).json()
        assert listing["total"] == len(listing["results"]) > 3
        tasks = {c["cls"] for g in listing["results"] for c in g["tasks"]}
        triggers = {c["cls"] for g in listing["results"] for c in g["triggers"]}
        conditions = {c["cls"] for g in listing["results"] for c in g["conditions"]}
        assert "io.kestra.plugin.core.log.Log" in tasks
        assert "io.kestra.plugin.core.flow.ForEach" in tasks
        assert "io.kestra.plugin.core.trigger.Schedule" in triggers
        assert "io.kestra.plugin.core.condition.ExecutionStatus" in conditions
        core = next(g for g in listing["results"] if g["name"] == "io.kestra.plugin.core.flow")
        assert "FLOW" in core["categories"]
        page = (await client.get("/api/v1/plugins?page=2&size=1")).json()
        assert page["total"] == listing["total"] and page["results"] == listing["results"][1:2]
        only = (await client.get("/api/v1/plugins/triggers")).json()
        assert {t["cls"] for t in only["results"]} == triggers


async def test_every_accepted_flow_validates_against_the_flow_schema() -> None:
    async with running_engine() as engine, _client(create_app(engine)) as client:
        schema = (await client.get("/api/v1/plugins/schemas/FLOW")).json()
    validator = jsonschema.Draft202012Validator(schema)
    yaml = YAML(typ="safe")
    checked = 0
    for folder in CORPORA:
        for path in sorted(folder.glob("*.y*ml")) if folder.is_dir() else []:
            try:
                load_file(path)
            except FlowLoadError:
                continue  # refused by the loader: the schema need not accept it either
            # As an editor sees the file: YAML dates are strings in JSON.
            document = json.loads(json.dumps(yaml.load(path.read_text()), default=str))
            errors = [e.message for e in validator.iter_errors(document)]
            assert not errors, (path.name, errors[:3])
            checked += 1
    assert checked > 100


async def test_a_task_schema_pins_its_type_names_and_rejects_unknown_properties() -> None:
    async with running_engine() as engine, _client(create_app(engine)) as client:
        answer = await client.get("/api/v1/plugins/io.kestra.plugin.core.log.Log")
        legacy = await client.get("/api/v1/plugins/io.kestra.core.tasks.log.Log")
        tasks = (await client.get("/api/v1/plugins/schemas/task?arrayOf=true")).json()
    assert answer.status_code == 200 and answer.headers["cache-control"].startswith("public")
    schema = answer.json()["schema"]
    # pinned to its name, and to the legacy name the loader still resolves
    assert schema["properties"]["type"] == {
        "enum": ["io.kestra.plugin.core.log.Log", "io.kestra.core.tasks.log.Log"]
    }
    assert legacy.status_code == 200 and legacy.json()["schema"] == schema
    assert tasks["type"] == "array"
    validator = jsonschema.Draft202012Validator(tasks)
    good = [{"id": "a", "type": "io.kestra.plugin.core.log.Log", "message": "hi"}]
    assert not list(validator.iter_errors(good))
    bad = [{"id": "a", "type": "io.kestra.plugin.core.log.Log", "message": "hi", "nope": 1}]
    assert list(validator.iter_errors(bad))


async def test_unknown_or_hostile_names_are_404_and_bad_paging_400() -> None:
    async with running_engine() as engine, _client(create_app(engine)) as client:
        for path in (
            "/api/v1/plugins/no.such.Type",
            "/api/v1/plugins/schemas/DASHBOARD",
            "/api/v1/plugins/schemas/..%2F..%2Fetc%2Fpasswd",
            "/api/v1/plugins/inputs/NOPE",
            "/api/v1/plugins/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
            "/api/v1/plugins/io.kestra.plugin.core.log.Log/versions/9.9.9",
        ):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert "<script>" not in response.text or response.headers["content-type"] == (
                "application/json"
            )
        assert (await client.get("/api/v1/plugins?size=0")).status_code == 400
        assert (await client.get("/api/v1/plugins?page=x")).status_code == 400
        inputs = (await client.get("/api/v1/plugins/inputs")).json()
        assert {"type": "FILE", "cls": "FILE"} in inputs


async def test_configs_answer_without_credentials_and_show_nothing_secret() -> None:
    config = Config()
    config.server.basic_auth.username = "admin"
    config.server.basic_auth.password = "s3cret-value"
    async with running_engine(config=config) as engine, _client(create_app(engine)) as client:
        answer = await client.get("/api/v1/configs")
        assert answer.status_code == 200
        body = answer.json()
        assert body["edition"] == "OSS" and body["isBasicAuthInitialized"] is True
        assert "s3cret-value" not in answer.text and "admin" not in answer.text
        assert (await client.get("/api/v1/plugins")).status_code == 401
        functions = await client.get("/api/v1/pebble/functions", auth=("admin", "s3cret-value"))
        assert {"name": "kv"} in functions.json()
        filters = await client.get("/api/v1/pebble/filters", auth=("admin", "s3cret-value"))
        assert "jq" in filters.json() and "date" in filters.json()
