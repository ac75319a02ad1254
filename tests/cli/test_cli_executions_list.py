"""`kestrad executions list` pages like the API: one execution per stdout line, the next
page's cursor and the count on stderr."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio

from kestrad.model.execution import Execution
from kestrad.model.state import History, StateInfo
from kestrad.store.factory import open_store

REPO = Path(__file__).resolve().parents[2]


def kestrad(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kestrad", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


async def _fill(url: str) -> list[str]:
    store = open_store(url)
    await store.migrate()
    executions = []
    for i in range(7):
        e = Execution.new(namespace="tests.cli", flow_id="f" if i % 2 else "g", flow_revision=1)
        e.id = f"e{i}"
        date = f"2026-01-01T00:00:0{i}.000000Z"
        e.state = StateInfo(current="SUCCESS", histories=[History(state="SUCCESS", date=date)])
        executions.append(e)
    await store.create_executions(executions)
    await store.close()
    return [e.id for e in reversed(executions)]


def test_list_pages_with_the_printed_cursor(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/kestrad.db"
    newest_first = anyio.run(_fill, url)
    config = tmp_path / "kestrad.yml"
    config.write_text(f"database:\n  url: {url}\nflows:\n  path: {tmp_path}/flows\n")
    seen: list[str] = []
    extra: list[str] = []
    while True:
        result = kestrad("executions", "list", "--limit", "3", "--config", str(config), *extra)
        assert result.returncode == 0, result.stderr
        seen += [line.split()[0] for line in result.stdout.splitlines()]
        if "next: " not in result.stderr:
            break
        extra = result.stderr.split("next: ", 1)[1].split()
    assert seen == newest_first

    counted = kestrad(
        "executions", "list", "--flow", "tests.cli/f", "--count", "--config", str(config)
    )
    assert [line.split()[0] for line in counted.stdout.splitlines()] == ["e5", "e3", "e1"]
    assert "total: 3" in counted.stderr and "next:" not in counted.stderr
    for bad in (["--after", "!!!"], ["--state", "NOPE"], ["--limit", "0"]):
        refused = kestrad("executions", "list", "--config", str(config), *bad)
        assert refused.returncode == 2, bad
        assert refused.stderr.startswith("error: ")
