"""Issue 15 item 1: worker concurrency tells in-process tasks (a large bound: they wait on
I/O) from processes (`worker.processes`, the machine's bound). Real subprocesses."""

from __future__ import annotations

from pathlib import Path

import pytest
from tasks_support import messages, run_flow, run_of

from kestrad.config import Config, load_config
from kestrad.runtime.engine import Engine

pytestmark = pytest.mark.anyio


def _flow(journal: Path) -> str:
    step = (
        f"    type: io.kestra.plugin.scripts.shell.Commands\n"
        f"    commands:\n"
        f"      - echo start >> {journal}\n"
        f"      - sleep 0.3\n"
        f"      - echo end >> {journal}\n"
    )
    branches = "".join(f"      - id: s{i}\n" + step.replace("    ", "        ") for i in range(3))
    return (
        "id: slots\nnamespace: tests.slots\ntasks:\n"
        "  - id: all\n    type: io.kestra.plugin.core.flow.Parallel\n    tasks:\n" + branches
    )


async def test_processes_run_one_at_a_time_with_one_process_slot(tmp_path: Path) -> None:
    """Three parallel scripts, `worker.processes: 1`: each starts after the last ended,
    while the worker itself has slots to spare (`concurrency` stays 1000)."""
    journal = tmp_path / "journal"
    config = Config()
    config.storage.path = str(tmp_path / "storage")
    config.worker.processes = 1
    async with Engine.open(config=config) as engine:
        assert engine.worker.concurrency == 1000
        final, logs = await run_flow(engine, _flow(journal))
    assert final.state.current == "SUCCESS", messages(logs)
    assert all(run_of(final, f"s{i}").state.current == "SUCCESS" for i in range(3))
    assert journal.read_text().split() == ["start", "end"] * 3


async def test_three_process_slots_let_the_scripts_overlap(tmp_path: Path) -> None:
    """The same flow with three slots: the scripts run side by side (the bound above is
    the slots', not the flow's)."""
    journal = tmp_path / "journal"
    config = Config()
    config.storage.path = str(tmp_path / "storage")
    config.worker.processes = 3
    async with Engine.open(config=config) as engine:
        final, logs = await run_flow(engine, _flow(journal))
    assert final.state.current == "SUCCESS", messages(logs)
    assert journal.read_text().split()[:2] == ["start", "start"]


def test_a_negative_process_bound_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "kestrad.yml"
    path.write_text("worker:\n  processes: -1\n")
    with pytest.raises(Exception, match=r"worker\.processes.*must be 0 \(automatic\) or more"):
        load_config(path)
