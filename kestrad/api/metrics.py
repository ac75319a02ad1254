"""`GET /metrics` in Prometheus text format.

Execution figures are kept up to date from the engine's change notifications, so a scrape
never scans the executions table: a gauge of executions not yet ended by state (seeded
once from the store, which is one indexed read), counters and duration histograms of
those that ended. Queue depth and poll latency (how long the oldest due message has been
waiting) are read per scrape from the small, hot queue tables.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

from kestrad.api.context import api
from kestrad.model.execution import Execution
from kestrad.model.state import TERMINATED, parse_iso
from kestrad.store.base import Store

log = logging.getLogger("kestrad.api.metrics")

DURATION_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    1800.0,
    3600.0,
)
# Ended executions remembered so a repeated notification is not counted twice.
RECENTLY_ENDED = 10_000


class ApiMetrics:
    """The daemon's metrics, in their own registry (several apps can live in one process)."""

    def __init__(self, hub: Any | None = None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.executions = Gauge(
            "kestrad_executions",
            "Executions not yet ended, by current state",
            ["state"],
            registry=r,
        )
        # Labelled by flow: as many series as deployed flows (bounded by the deployment),
        # never by execution or task run id.
        self.ended = Counter(
            "kestrad_executions_ended",
            "Executions that reached a terminal state",
            ["namespace", "flow_id", "state"],
            registry=r,
        )
        self.execution_duration = Histogram(
            "kestrad_execution_duration_seconds",
            "Execution duration from creation to its terminal state",
            ["namespace", "flow_id", "state"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.task_run_duration = Histogram(
            "kestrad_task_run_duration_seconds",
            "Task run duration from creation to its terminal state",
            ["namespace", "flow_id", "state"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        # The process's own figures (CPU, memory, open files, GC), prometheus_client's defaults.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.queue_depth = Gauge(
            "kestrad_queue_depth", "Messages waiting in a queue topic", ["topic"], registry=r
        )
        self.queue_poll_latency = Gauge(
            "kestrad_queue_poll_latency_seconds",
            "How long the oldest due, unclaimed message of a topic has waited",
            ["topic"],
            registry=r,
        )
        self.scheduler_tick = Histogram(
            "kestrad_scheduler_tick_seconds",
            "Time one scheduler evaluation tick took",
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.open_streams = Gauge(
            "kestrad_api_open_streams", "Server-sent event streams open", registry=r
        )
        self._active: dict[str, str] = {}
        self._ended: OrderedDict[str, None] = OrderedDict()
        # Children of the labelled metrics, by label values: `labels()` validates its
        # arguments and takes a lock on every call, and this runs on every state change.
        # As many entries as series (states; deployed flows times terminal states).
        self._children: dict[tuple[Any, ...], Any] = {}
        self._seeded = False
        self._unsubscribe = hub.subscribe_executions(self.execution_seen) if hub else None

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # -- executions (called on every change notification: keep it cheap) ------------------------
    def execution_seen(self, execution: Execution) -> None:
        """Called inside the executor's loop: a failure here must never reach it."""
        try:
            self._update(execution)
        except Exception:
            log.exception("metrics: execution %s not counted", execution.id)

    def execution_created(self, execution: Execution) -> None:
        """A new execution this daemon stored; the executor may have reported it already."""
        if execution.id not in self._active and execution.id not in self._ended:
            self.execution_seen(execution)

    def _update(self, execution: Execution) -> None:
        eid, state = execution.id, execution.state.current
        if eid in self._ended:
            return
        previous = self._active.get(eid)
        if previous == state:
            return
        if previous is not None:
            self._child(self.executions, previous).dec()
        if state in TERMINATED:
            self._active.pop(eid, None)
            self._remember_ended(eid)
            self._child(self.ended, execution.namespace, execution.flow_id, state).inc()
            self._observe_durations(execution)
            return
        self._active[eid] = state
        self._child(self.executions, state).inc()

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (metric, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def _remember_ended(self, eid: str) -> None:
        self._ended[eid] = None
        if len(self._ended) > RECENTLY_ENDED:
            self._ended.popitem(last=False)

    def _observe_durations(self, execution: Execution) -> None:
        flow = (execution.namespace, execution.flow_id)
        seconds = _span(execution.state.histories)
        if seconds is not None:
            self._child(self.execution_duration, *flow, execution.state.current).observe(seconds)
        for run in execution.task_run_list:
            seconds = _span(run.state.histories)
            if seconds is not None and run.state.current in TERMINATED:
                self._child(self.task_run_duration, *flow, run.state.current).observe(seconds)

    def observe_scheduler_tick(self, seconds: float) -> None:
        self.scheduler_tick.observe(seconds)

    # -- scrape -----------------------------------------------------------------------------------
    async def _seed(self, store: Store) -> None:
        """Executions that were running before this daemon started notifying us."""
        for eid, state in await store.active_executions():
            if eid not in self._active and eid not in self._ended:
                self._active[eid] = state
                self._child(self.executions, state).inc()
        self._seeded = True

    async def render(self, store: Store, open_streams: int = 0) -> bytes:
        if not self._seeded:
            await self._seed(store)
        now = time.time()
        for stats in await store.queue_stats(now):
            self.queue_depth.labels(stats.topic).set(stats.depth)
            waited = now - stats.oldest_due if stats.oldest_due is not None else 0.0
            self.queue_poll_latency.labels(stats.topic).set(max(waited, 0.0))
        self.open_streams.set(open_streams)
        return generate_latest(self.registry)


def _span(histories: list[Any]) -> float | None:
    if len(histories) < 2:
        return None
    try:
        return (parse_iso(histories[-1].date) - parse_iso(histories[0].date)).total_seconds()
    except ValueError:
        return None


async def metrics(request: Request) -> Response:
    ctx = api(request)
    body = await ctx.metrics.render(ctx.engine.store, ctx.open_streams)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
