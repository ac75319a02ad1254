"""The benchmarks run: each one the README quotes, with tiny parameters, end to end.

A benchmark is run by hand, often long after its last change; one that a refactor broke
(an option another script added, a renamed argument) is only found then, when its
figures are wanted. These runs take seconds and check what the figures rest on: every
request became an execution and each ended in SUCCESS. They assert nothing about speed.
Results go to a temporary folder (`KESTRAD_BENCH_RESULTS`), not `bench/results/`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BENCH_FLOWS_DIR, REPO

BENCH = REPO / "bench"


def run_bench(script: str, args: list[str], results: Path) -> dict[str, object]:
    """Run `bench/<script>` to completion and return the JSON it wrote."""
    env = {
        **os.environ,
        "KESTRAD_BENCH_RESULTS": str(results),
        "KESTRAD_BENCH_FLOWS": str(BENCH_FLOWS_DIR),
    }
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args, "--output", "smoke"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    written = results / "smoke.json"
    assert written.is_file(), f"{script} wrote no results:\n{done.stdout[-2000:]}"
    assert not (BENCH / "results" / "smoke.json").exists()
    data: dict[str, object] = json.loads(written.read_text())
    return data


def every_request_succeeded(data: dict[str, object]) -> None:
    results = data["results"]
    assert isinstance(results, list) and results
    for row in results:
        assert row["errors"] == 0, row
        assert row["requests"] > 0
        assert row["executions"] == row["requests"], row
        assert row["states"] == {"SUCCESS": row["requests"]}, row


@pytest.fixture
def results(tmp_path: Path) -> Path:
    if not (BENCH_FLOWS_DIR / "benchmark01-simple.yml").is_file():
        pytest.skip(f"no benchmark flows at {BENCH_FLOWS_DIR}")
    return tmp_path / "results"


def test_webhook_load_runs(results: Path) -> None:
    data = run_bench(
        "webhook_load.py",
        ["--client", "raw", "--rates", "20", "--warmup", "0.5", "--duration", "1", "--idle", "0"],
        results,
    )
    every_request_succeeded(data)
    assert data["results"][0]["daemon_cpu_ms_per_execution"] > 0  # type: ignore[index]


def test_sleep_benchmark_runs(results: Path) -> None:
    data = run_bench("sleep.py", ["--rates", "10", "--warmup", "0.3", "--duration", "1"], results)
    every_request_succeeded(data)
    # Each execution slept its 5 s: the timer ended it, not a failure or a skip.
    assert data["results"][0]["start_to_end"]["p50"] >= 5.0  # type: ignore[index]


def test_startup_benchmark_runs(results: Path) -> None:
    data = run_bench("startup.py", ["--runs", "1"], results)
    timings = data["results"]
    assert isinstance(timings, dict)
    assert set(timings) == {"trivial", "foreach160"}
    assert all(t["median"] > 0 for t in timings.values())
