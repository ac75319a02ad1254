"""Scheduler test helpers: a movable clock and flows built from a cron line."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from kestrad.expr.engine import Renderer
from kestrad.runtime.flow_cache import FlowCache
from kestrad.runtime.scheduler import Scheduler, SchedulerConfig


class Clock:
    """A clock tests move by hand (epoch seconds)."""

    def __init__(self, start: datetime) -> None:
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def at(text: str, zone: str = "UTC") -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


def schedule_flow(
    flow_id: str = "hourly",
    cron: str = "0 * * * *",
    *,
    extra: str = "",
    inputs: str = "",
    namespace: str = "company.team",
) -> str:
    return f"""
id: {flow_id}
namespace: {namespace}
{inputs}
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hi
triggers:
  - id: schedule
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "{cron}"
    timezone: UTC
{extra}
"""


async def scheduler_for(
    store: object, sources: list[str], clock: Clock, **config: object
) -> tuple[Scheduler, FlowCache]:
    flows = FlowCache(store)  # type: ignore[arg-type]
    for source in sources:
        await flows.deploy(source)
    await flows.load_all()  # a restart: flows already in the store
    scheduler = Scheduler(
        store,  # type: ignore[arg-type]
        flows,
        renderer=Renderer(),
        config=SchedulerConfig(**config),  # type: ignore[arg-type]
        clock=clock,
    )
    await scheduler.start()
    return scheduler, flows
