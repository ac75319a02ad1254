"""The scheduler beside a real engine: executions run, and their end releases the lock."""

from __future__ import annotations

import time

import anyio
import pytest

from kestrad.cli.parsers import build_parser
from kestrad.cli.triggers import handle
from kestrad.runtime.engine import Engine
from kestrad.runtime.monitor import TriggerMonitor
from kestrad.runtime.scheduler import Scheduler, SchedulerConfig
from tests.scheduler.helpers import schedule_flow

pytestmark = pytest.mark.anyio
KEY = ("company.team", "every_second", "schedule")


async def test_every_second_schedule_runs_and_the_monitor_releases_locks(tmp_path) -> None:
    async with Engine.open(f"sqlite:///{tmp_path}/k.db") as engine:
        source = schedule_flow("every_second", "* * * * * *", extra="    withSeconds: true")
        await engine.deploy_source(source)
        scheduler = Scheduler(
            engine.store,
            engine.flows,
            renderer=engine.renderer,
            config=SchedulerConfig(tick="PT0.2S"),
            wake=engine.hub.executor_wake.set,
        )
        monitor = TriggerMonitor(scheduler)
        async with anyio.create_task_group() as tg:
            tg.start_soon(scheduler.run)
            deadline = time.monotonic() + 4
            ended = 0
            while time.monotonic() < deadline:
                await anyio.sleep(0.3)
                await monitor.check()
                executions = await engine.list_executions("company.team", "every_second")
                ended = sum(1 for e in executions if e.terminated)
            tg.cancel_scope.cancel()
        executions = await engine.list_executions("company.team", "every_second")
        assert ended >= 2, [e.state.current for e in executions]
        dates = [e.trigger.variables["date"] for e in executions]
        assert len(dates) == len(set(dates))  # one execution per fire time


async def test_cli_lists_unlocks_disables_and_backfills(tmp_path, capsys) -> None:
    url = f"sqlite:///{tmp_path}/k.db"
    config = tmp_path / "kestrad.yml"
    config.write_text(f"database:\n  url: {url}\n")
    async with Engine.open(url) as engine:
        await engine.deploy_source(schedule_flow("every_second", "0 * * * *"))
        scheduler = Scheduler(engine.store, engine.flows, renderer=engine.renderer)
        await scheduler.start()
        row = scheduler.state(KEY)
        scheduler.locks.hold(row, "abc")
        scheduler.writer.mark(row)
        await scheduler.flush()

    parser = build_parser()

    async def run(*argv: str) -> int:
        return await handle(parser.parse_args(["triggers", *argv, "--config", str(config)]))

    assert await run("list") == 0
    assert "locked" in capsys.readouterr().out
    assert await run("unlock", "company.team/every_second", "schedule") == 0
    assert await run("disable", "company.team/every_second", "schedule") == 0
    assert (
        await run(
            "backfill",
            "company.team/every_second",
            "schedule",
            "--start",
            "2024-01-01T00:00:00Z",
            "--end",
            "2024-01-01T03:00:00Z",
        )
        == 0
    )
    assert "first date 2024-01-01T00:00:00+00:00" in capsys.readouterr().out
    assert await run("backfill", "company.team/every_second", "schedule", "--pause") == 0
    assert await run("list") == 0
    out = capsys.readouterr().out
    assert "disabled" in out and "paused" in out and "abc" not in out
    assert await run("unlock", "company.team/nope", "schedule") == 1
