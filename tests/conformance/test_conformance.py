"""Kestra's own test flows (the first corpus, Kestra 0.21), judged by its `cases.yml`.

The corpus lives outside the repository (KESTRAD_CONFORMANCE_DIR, default
`../shared/conformance`); without it this module is skipped, unless
KESTRAD_REQUIRE_CONFORMANCE is set (CI), where a missing corpus fails. How a case runs is
in `runner.py`; the second corpus, always present, is `test_kestra1x.py`.

`PENDING` lists the cases known not to pass yet, with the reason. They are reported as
xfail while they fail, and fail once they pass, so the list cannot go stale.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .runner import Harness, load_cases, open_harness, open_validator, run_one

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

CASES = load_cases(CASES_FILE)


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
