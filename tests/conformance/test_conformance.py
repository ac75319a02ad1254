"""Kestra's own test flows, run through the engine and judged by the corpus's `cases.yml`.

The runner follows the corpus README step by step: one engine with the union of the cases'
env, Kestra's test globals and an encryption key; every flow of `valids/` and `tests/`
deployed; then per case the `before` executions, the execution itself, a grace period for
related executions, and the comparison (see `expectations.py`).

Tests are plain functions; the engine lives on an event loop in a background thread (an
anyio blocking portal) for the whole module, so one store serves every case as the README
requires and each test just submits coroutines to it.

`PENDING` lists the cases known not to pass yet, with the reason. They are reported as
xfail while they fail, and fail once they pass, so the list cannot go stale.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from ruamel.yaml import YAML

from .expectations import Placeholders, check_execution, describe, others_pending

REPO_ROOT = Path(__file__).resolve().parents[2]
CORPUS_DIR = Path(
    os.environ.get("KESTRAD_CONFORMANCE_DIR") or REPO_ROOT.parent / "shared" / "conformance"
)
CASES_FILE = CORPUS_DIR / "cases.yml"

if not CASES_FILE.is_file():
    _missing = f"conformance corpus not found at {CORPUS_DIR} (set KESTRAD_CONFORMANCE_DIR)"
    if os.environ.get("KESTRAD_REQUIRE_CONFORMANCE"):
        pytest.fail(_missing, pytrace=False)  # CI: a missing corpus must not pass as a skip
    pytest.skip(_missing, allow_module_level=True)

# Case id -> why it cannot pass yet.
PENDING: dict[str, str] = {}

# What Kestra's test configuration provides (README, "How a runner uses it", step 1).
GLOBALS: dict[str, Any] = {"string": "string", "int": 1, "bool": True, "nested": {"int": 2}}
SECRET_KEY = "I6EGNzRESu3X3pKZidrqCGOHQFUFC0yK"  # Kestra's test key: base64 of 24 bytes

EXECUTION_TIMEOUT = 60.0  # per execution (README step 4.3)
RELATED_TIMEOUT = 15.0  # extra wait for related executions (README step 4.4)
LOG_GRACE = 2.0  # log lines may be stored a moment after the terminal state
POLL_INTERVAL = 0.1

T = TypeVar("T")


def load_cases(path: Path) -> list[dict[str, Any]]:
    cases = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or []
    ids = [case["id"] for case in cases]
    duplicates = sorted({case_id for case_id in ids if ids.count(case_id) > 1})
    if duplicates:
        raise ValueError(f"{path}: duplicate case ids {duplicates}")
    return cases


def union_env(cases: list[dict[str, Any]]) -> dict[str, str]:
    """Every case's env in one mapping; the README promises no two cases disagree."""
    env: dict[str, str] = {}
    for case in cases:
        for key, value in (case.get("env") or {}).items():
            if env.get(key, value) != value:
                raise ValueError(f"cases disagree on env {key} (case {case['id']})")
            env[key] = str(value)
    return env


CASES = load_cases(CASES_FILE)


# -- the engine ----------------------------------------------------------------------------------


@dataclass
class Harness:
    """An engine on a background event loop, with the problems its deployment reported."""

    portal: BlockingPortal
    engine: Any
    problems: list[str] = field(default_factory=list)

    def run(self, func: Callable[..., Awaitable[T]], *args: Any) -> T:
        return self.portal.call(func, *args)


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    """The engine every case runs on, with `valids/` and `tests/` deployed."""
    from kestrad.runtime.engine import Engine  # imported here so the comparator tests never need it

    opened = Engine.open(env=union_env(CASES), globals_=GLOBALS, secret_key=SECRET_KEY)
    with (
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(opened) as engine,
    ):
        harness = Harness(portal, engine)
        for folder in ("valids", "tests"):
            problems = portal.call(engine.deploy_directory, str(CORPUS_DIR / folder))
            harness.problems.extend(str(problem) for problem in problems)
        yield harness


@pytest.fixture(scope="module")
def validator() -> Iterator[Harness]:
    """An empty engine for invalid files.

    Several invalid files reuse the id of a valid flow; if a loader wrongly accepted one, it
    must not replace that valid flow in the store the other cases run against.
    """
    from kestrad.runtime.engine import Engine

    with (
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(Engine.open(secret_key=SECRET_KEY)) as engine,
    ):
        yield Harness(portal, engine)


# -- running one case ----------------------------------------------------------------------------


class CaseFailure(Exception):
    """The case cannot go on (the execution could not be created, or never got there)."""


def _to_json(execution: Any) -> dict[str, Any]:
    from kestrad.runtime.engine import execution_to_json

    return execution_to_json(execution)


def _terminal() -> frozenset[str]:
    from kestrad.model.state import TERMINATED

    return frozenset(TERMINATED)


def _split_flow(flow: str) -> tuple[str, str]:
    namespace, _, flow_id = flow.rpartition("/")
    return namespace, flow_id


def _problems_for(case: Mapping[str, Any], problems: list[str]) -> list[str]:
    """Deployment problems of the files this case runs (its own, `needs`)."""
    files = [case["file"], *(case.get("needs") or [])]
    return [p for p in problems if any(p.split(":", 1)[0].endswith(f) for f in files)]


async def _create(engine: Any, flow: str, inputs: Any, labels: Any) -> str:
    namespace, flow_id = _split_flow(flow)
    inputs = {key: str(value) for key, value in (inputs or {}).items()}
    try:
        execution = await engine.create_execution(namespace, flow_id, inputs, labels or None)
    except Exception as exc:  # InputsInvalid, FlowNotFound, …: the case fails, with the reason
        errors = getattr(exc, "errors", None)
        detail = f" {errors}" if errors else ""
        raise CaseFailure(
            f"create_execution({flow}) raised {type(exc).__name__}: {exc}{detail}"
        ) from exc
    return _to_json(execution)["id"]


async def _wait(engine: Any, execution_id: str, until: str | None, what: str) -> None:
    """Wait for a terminal state, or for `RUNNING` in the history, or for `PAUSED`.

    Each predicate also accepts a terminal state, so an execution that skips the awaited
    state fails fast on the comparison instead of timing out.
    """
    terminal = _terminal()

    def reached(execution: Any) -> bool:
        data = _to_json(execution)
        current = data["state"]["current"]
        if current in terminal:
            return True
        if until == "RUNNING":
            return "RUNNING" in [h["state"] for h in data["state"]["histories"]]
        if until == "PAUSED":
            return current == "PAUSED"
        return False

    try:
        await engine.wait_for(execution_id, until=reached, timeout=EXECUTION_TIMEOUT)
    except TimeoutError as exc:
        execution = await engine.get_execution(execution_id)
        now = describe(_to_json(execution) if execution is not None else None)
        goal = {"RUNNING": "RUNNING in its history", "PAUSED": "PAUSED"}.get(
            until, "a terminal state"
        )
        raise CaseFailure(
            f"{what} did not reach {goal} within {EXECUTION_TIMEOUT:.0f} s\n{now}"
        ) from exc


async def _settle(
    engine: Any,
    expect: Mapping[str, Any],
    execution_id: str,
    placeholders: Placeholders,
    known_ids: set[str],
) -> tuple[list[str], dict[str, Any]]:
    """Compare, polling while waiting can still change the outcome.

    Related executions (flow triggers, retries creating new executions) may appear or finish
    after this execution ends: keep polling while they are missing or running, up to
    RELATED_TIMEOUT. Log lines get a short grace period. Everything else is checked once.
    """
    terminal = _terminal()
    waits_for_others = "related" in expect or "flowExecutionStates" in expect
    grace = RELATED_TIMEOUT if waits_for_others else LOG_GRACE if "logs" in expect else 0.0
    deadline = time.monotonic() + grace
    while True:
        execution = _to_json(await engine.get_execution(execution_id))
        created = [
            data
            for data in map(_to_json, await engine.list_executions())
            if data["id"] not in known_ids
        ]
        logs = await engine.logs(execution_id) if "logs" in expect else []
        mismatches = check_execution(
            expect,
            execution,
            logs=logs,
            executions=created,
            placeholders=placeholders,
        )
        if not mismatches or time.monotonic() >= deadline:
            return mismatches, execution
        if "logs" not in expect and not others_pending(expect, execution, created, terminal):
            return mismatches, execution
        await anyio.sleep(POLL_INTERVAL)


async def run_case(engine: Any, case: Mapping[str, Any]) -> list[str]:
    """README step 4 for one case; returns its mismatches."""
    known_ids = {_to_json(e)["id"] for e in await engine.list_executions()}
    befores: list[tuple[int, Mapping[str, Any], str]] = []
    for index, entry in enumerate(case.get("before") or []):
        before_id = await _create(engine, entry["flow"], entry.get("inputs"), entry.get("labels"))
        await _wait(engine, before_id, entry.get("until"), f"before[{index}] {entry['flow']}")
        befores.append((index, entry, before_id))

    expect = case["expect"]
    execution_id = await _create(engine, case["flow"], case.get("inputs"), case.get("labels"))
    until = "PAUSED" if expect.get("state") == "PAUSED" else None
    await _wait(engine, execution_id, until, case["flow"])
    placeholders = Placeholders(execution_id=execution_id)
    failures, execution = await _settle(engine, expect, execution_id, placeholders, known_ids)
    if failures:
        failures.append(describe(execution))

    # `before` expectations are checked last: by then a wrongly fired flow trigger has had
    # the whole case to show up, so `absentRelated` means something.
    for index, entry, before_id in befores:
        before_expect = entry.get("expect") or {}
        before_until = "PAUSED" if before_expect.get("state") == "PAUSED" else None
        label = f"before[{index}] {entry['flow']}"
        await _wait(engine, before_id, before_until, label)
        mismatches, before = await _settle(
            engine, before_expect, before_id, placeholders, known_ids
        )
        failures += [f"{label}: {m}" for m in mismatches]
        if mismatches:
            failures.append(describe(before))
    return failures


async def run_invalid_case(engine: Any, case: Mapping[str, Any]) -> list[str]:
    """README step 3: the file on its own must be rejected by the loader."""
    from kestrad.flows.loader import FlowLoadError

    path = CORPUS_DIR / case["file"]
    try:
        await engine.deploy_source(path.read_text(encoding="utf-8"), file=str(path))
    except FlowLoadError:
        return []
    reason = case["expect"].get("reason", "")
    return [f"the loader accepted {case['file']}; Kestra rejects it ({reason})"]


def _judge(case_id: str, run: Callable[[], list[str]]) -> None:
    """Pass, fail, or xfail according to PENDING (a pending case that passes fails)."""
    reason = PENDING.get(case_id)
    try:
        failures = run()
    except CaseFailure as exc:
        failures = [str(exc)]
    except Exception as exc:
        if reason is None:
            raise
        pytest.xfail(f"{reason} [raised {type(exc).__name__}: {exc}]")
    if reason is None:
        if failures:
            pytest.fail(f"{case_id}:\n" + "\n".join(failures), pytrace=False)
    elif failures:
        first = failures[0].splitlines()[0]
        pytest.xfail(f"{reason} [{first[:160]}]")
    else:
        pytest.fail(f"{case_id} passes now: remove it from PENDING", pytrace=False)


# -- the tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_case(case: dict[str, Any], request: pytest.FixtureRequest) -> None:
    if case["expect"].get("invalid"):
        validator: Harness = request.getfixturevalue("validator")
        _judge(case["id"], lambda: validator.run(run_invalid_case, validator.engine, case))
        return

    harness: Harness = request.getfixturevalue("harness")

    def run() -> list[str]:
        problems = _problems_for(case, harness.problems)
        if problems:
            return [f"flow file did not load: {problem}" for problem in problems]
        return harness.run(run_case, harness.engine, case)

    _judge(case["id"], run)


def test_pending_names_real_cases() -> None:
    unknown = sorted(set(PENDING) - {case["id"] for case in CASES})
    assert not unknown, f"PENDING names cases that do not exist: {unknown}"
