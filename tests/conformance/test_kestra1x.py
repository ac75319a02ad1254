"""Kestra 1.x's own test flows (the second corpus), judged by `kestra1x/cases.yml`.

The corpus is part of the repository, so this module always runs (CI included). How a case
runs is in `runner.py`; what the corpus holds and where it comes from is in
`kestra1x/README.md`.

`PENDING` lists the cases known not to pass yet, with the reason. They are reported as
xfail while they fail, and fail once they pass, so the list cannot go stale.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .runner import Harness, load_cases, open_harness, open_validator, run_one

CORPUS_DIR = Path(__file__).resolve().parent / "kestra1x"
CASES = load_cases(CORPUS_DIR / "cases.yml")

# Why cases cannot pass yet, grouped by the missing feature; each case id appears once.
_PENDING_BY_REASON: dict[str, list[str]] = {
    "a flowable's `errors` branch runs only after its child's retries are spent (Kestra runs it between attempts; upstream @FlakyTest)": [
        "retry-with-flowable-errors",
    ],
    "flow-level retry with maxDuration PT7S / interval PT2S makes 4 attempts (Kestra: 3; upstream @FlakyTest)": [
        "retry-failed-flow-duration",
    ],
}

# Case id -> why it cannot pass yet.
PENDING: dict[str, str] = {
    case_id: reason for reason, ids in _PENDING_BY_REASON.items() for case_id in ids
}


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    with open_harness(CORPUS_DIR, CASES) as opened:
        yield opened


@pytest.fixture(scope="module")
def validator() -> Iterator[Harness]:
    with open_validator(CORPUS_DIR) as opened:
        yield opened


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_case(case: dict[str, Any], request: pytest.FixtureRequest) -> None:
    run_one(case, request, PENDING)


def test_pending_names_real_cases() -> None:
    unknown = sorted(set(PENDING) - {case["id"] for case in CASES})
    assert not unknown, f"PENDING names cases that do not exist: {unknown}"


def test_pending_lists_each_case_once() -> None:
    listed = [case_id for ids in _PENDING_BY_REASON.values() for case_id in ids]
    twice = sorted({case_id for case_id in listed if listed.count(case_id) > 1})
    assert not twice, f"PENDING lists these cases under two reasons: {twice}"


def test_every_case_cites_a_source() -> None:
    missing = [case["id"] for case in CASES if not str(case.get("source", "")).strip()]
    assert not missing, f"cases without a `source`: {missing}"


def test_every_flow_file_is_used() -> None:
    """Only the flows the cases run are deployed: an unused flow could fire triggers."""
    used = set()
    for case in CASES:
        used.add(case["file"])
        used.update(case.get("needs") or [])
    on_disk = {
        str(path.relative_to(CORPUS_DIR))
        for folder in ("valids", "tests", "invalids")
        for path in (CORPUS_DIR / folder).iterdir()
    }
    assert sorted(on_disk - used) == []
    assert sorted(used - on_disk) == []
