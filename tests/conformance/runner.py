"""Running a conformance corpus through the engine, shared by the corpora's test modules.

A corpus is a folder with `cases.yml`, the flow folders `valids/`, `tests/`, `invalids/`
and, for the second corpus, `files/` (input files a case uploads). Each test module opens
one engine for its corpus (one store per corpus), deploys `valids/` and `tests/`, and runs
every case through `run_case` / `run_invalid_case`, then `judge`s the result against its
own `PENDING` list.

The engine lives on an event loop in a background thread (an anyio blocking portal) for the
whole module, so one store serves every case of the corpus as the README requires and each
test just submits coroutines to it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from ruamel.yaml import YAML

from .expectations import Placeholders, check_execution, describe, others_pending

# What Kestra's test configuration provides (README, "How a runner uses it", step 1).
GLOBALS: dict[str, Any] = {"string": "string", "int": 1, "bool": True, "nested": {"int": 2}}
SECRET_KEY = "I6EGNzRESu3X3pKZidrqCGOHQFUFC0yK"  # Kestra's test key: base64 of 24 bytes

EXECUTION_TIMEOUT = 60.0  # per execution (README step 4.3)
RELATED_TIMEOUT = 15.0  # extra wait for related executions (README step 4.4)
LOG_GRACE = 2.0  # log lines may be stored a moment after the terminal state
POLL_INTERVAL = 0.1

# Where a case's `inputFiles` are stored before its execution is created, as Kestra's tests
# store theirs (`storageInterface.put(..., "/file/storage/file.txt")`).
INPUT_FILES_PREFIX = "kestra:///file/storage/"

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


# -- the engine ----------------------------------------------------------------------------------


@dataclass
class Harness:
    """An engine on a background event loop, with the problems its deployment reported."""

    portal: BlockingPortal
    engine: Any
    corpus: Path
    problems: list[str] = field(default_factory=list)

    def run(self, func: Callable[..., Awaitable[T]], *args: Any) -> T:
        return self.portal.call(func, *args)


@contextmanager
def open_harness(corpus: Path, cases: list[dict[str, Any]]) -> Iterator[Harness]:
    """The engine a corpus's cases run on, with its `valids/` and `tests/` deployed."""
    from kestrad.runtime.engine import Engine  # imported here so the comparator tests never need it

    opened = Engine.open(env=union_env(cases), globals_=GLOBALS, secret_key=SECRET_KEY)
    with (
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(opened) as engine,
    ):
        harness = Harness(portal, engine, corpus)
        for folder in ("valids", "tests"):
            if (corpus / folder).is_dir():
                problems = portal.call(engine.deploy_directory, str(corpus / folder))
                harness.problems.extend(str(problem) for problem in problems)
        yield harness


@contextmanager
def open_validator(corpus: Path) -> Iterator[Harness]:
    """An empty engine for invalid files.

    Several invalid files reuse the id of a valid flow; if a loader wrongly accepted one, it
    must not replace that valid flow in the store the other cases run against.
    """
    from kestrad.runtime.engine import Engine

    with (
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(Engine.open(secret_key=SECRET_KEY)) as engine,
    ):
        yield Harness(portal, engine, corpus)


# -- running one case ----------------------------------------------------------------------------


class CaseFailure(Exception):
    """The case cannot go on (the execution could not be created, or never got there)."""


class CreationRefused(CaseFailure):
    """The engine refused to create the execution (bad inputs, unknown flow, …).

    `inputs` names the inputs the refusal is about, when the engine says so per input.
    """

    def __init__(self, message: str, inputs: frozenset[str]) -> None:
        super().__init__(message)
        self.inputs = inputs


def _to_json(execution: Any) -> dict[str, Any]:
    from kestrad.runtime.engine import execution_to_json

    return execution_to_json(execution)


def _terminal() -> frozenset[str]:
    from kestrad.model.state import TERMINATED

    return frozenset(TERMINATED)


def _split_flow(flow: str) -> tuple[str, str]:
    namespace, _, flow_id = flow.rpartition("/")
    return namespace, flow_id


def problems_for(case: Mapping[str, Any], problems: list[str]) -> list[str]:
    """Deployment problems of the files this case runs (its own, `needs`)."""
    files = [case["file"], *(case.get("needs") or [])]
    return [p for p in problems if any(p.split(":", 1)[0].endswith(f) for f in files)]


def store_input_files(corpus: Path, files: Mapping[str, str]) -> dict[str, str]:
    """Put each `inputFiles` entry in internal storage; the input gets the `kestra://` URI.

    Kestra's tests upload a file and pass its URI as the FILE input; an API caller does the
    same with a multipart upload. The engine's storage is the process-wide default one.
    """
    from kestrad.storage import default_storage

    uris: dict[str, str] = {}
    for name, relative in files.items():
        source = corpus / relative
        uri = f"{INPUT_FILES_PREFIX}{source.name}"
        default_storage().put(uri, source.read_bytes())
        uris[name] = uri
    return uris


async def _create(
    engine: Any, flow: str, inputs: Any, labels: Any, files: Mapping[str, str] | None = None
) -> str:
    namespace, flow_id = _split_flow(flow)
    inputs = {key: str(value) for key, value in (inputs or {}).items()}
    inputs.update(files or {})
    try:
        execution = await engine.create_execution(namespace, flow_id, inputs, labels or None)
    except Exception as exc:  # InputsInvalid, FlowNotFound, …: the case fails, with the reason
        errors = getattr(exc, "errors", None)
        detail = f" {errors}" if errors else ""
        names = frozenset(str(getattr(error, "input_id", "")) for error in errors or [])
        raise CreationRefused(
            f"create_execution({flow}) raised {type(exc).__name__}: {exc}{detail}", names
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


async def _run_rejected(engine: Any, case: Mapping[str, Any], files: dict[str, str]) -> list[str]:
    """`expect.inputsRejected`: creating the execution must be refused over that input.

    The refusal must name the input among its per-input errors (a bare message is not
    enough: input ids like `string` or `enum` appear in unrelated messages). Kestra's own
    message (`reason`) is informative only, as for invalid flows.
    """
    name = case["expect"]["inputsRejected"]
    try:
        execution_id = await _create(
            engine, case["flow"], case.get("inputs"), case.get("labels"), files
        )
    except CreationRefused as exc:
        if name in exc.inputs:
            return []
        return [f"creation was refused, but not over input `{name}`: {exc}"]
    reason = case["expect"].get("reason", "")
    return [f"the execution was created ({execution_id}); Kestra refuses input `{name}`: {reason}"]


async def run_case(engine: Any, case: Mapping[str, Any], corpus: Path) -> list[str]:
    """README step 4 for one case; returns its mismatches."""
    files = store_input_files(corpus, case.get("inputFiles") or {})
    if "inputsRejected" in case["expect"]:
        return await _run_rejected(engine, case, files)
    known_ids = {_to_json(e)["id"] for e in await engine.list_executions()}
    befores: list[tuple[int, Mapping[str, Any], str]] = []
    for index, entry in enumerate(case.get("before") or []):
        before_id = await _create(engine, entry["flow"], entry.get("inputs"), entry.get("labels"))
        await _wait(engine, before_id, entry.get("until"), f"before[{index}] {entry['flow']}")
        befores.append((index, entry, before_id))

    expect = case["expect"]
    execution_id = await _create(
        engine, case["flow"], case.get("inputs"), case.get("labels"), files
    )
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


async def run_invalid_case(engine: Any, case: Mapping[str, Any], corpus: Path) -> list[str]:
    """README step 3: the file on its own must be rejected by the loader."""
    from kestrad.flows.loader import FlowLoadError

    path = corpus / case["file"]
    try:
        await engine.deploy_source(path.read_text(encoding="utf-8"), file=str(path))
    except FlowLoadError:
        return []
    reason = case["expect"].get("reason", "")
    return [f"the loader accepted {case['file']}; Kestra rejects it ({reason})"]


def judge(case_id: str, reason: str | None, run: Callable[[], list[str]]) -> None:
    """Pass, fail, or xfail according to `reason` (the case's PENDING entry, if any).

    A pending case that passes fails, so a PENDING list cannot go stale.
    """
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


def run_one(
    case: dict[str, Any], request: pytest.FixtureRequest, pending: Mapping[str, str]
) -> None:
    """One case of a corpus, on the module's `harness` (or `validator` for invalid files)."""
    reason = pending.get(case["id"])
    if case["expect"].get("invalid"):
        validator: Harness = request.getfixturevalue("validator")
        judge(
            case["id"],
            reason,
            lambda: validator.run(run_invalid_case, validator.engine, case, validator.corpus),
        )
        return

    harness: Harness = request.getfixturevalue("harness")

    def run() -> list[str]:
        problems = problems_for(case, harness.problems)
        if problems:
            return [f"flow file did not load: {problem}" for problem in problems]
        return harness.run(run_case, harness.engine, case, harness.corpus)

    judge(case["id"], reason, run)
