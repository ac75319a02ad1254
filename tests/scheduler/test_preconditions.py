"""Flow-trigger `preconditions` and MultipleCondition: windows, filters, reset, persistence."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kestrad.expr.engine import Renderer
from kestrad.flows.loader import load_flow
from kestrad.model.execution import Execution, Label
from kestrad.runtime.engine import Engine
from kestrad.runtime.flow_triggers import WindowBook, triggered_executions
from kestrad.store.base import TriggerWindow, WindowKey
from kestrad.triggers.flow import TimeWindow
from kestrad.triggers.preconditions import bounds

NS = "company.team"


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


class FakeView:
    """The window table as a dict: what the batch's committed writes would leave."""

    def __init__(self) -> None:
        self.rows: dict[WindowKey, TriggerWindow] = {}

    def running_count(self, namespace: str, flow_id: str) -> int:
        return 0

    def queued_ids(self, namespace: str, flow_id: str, limit: int) -> list[str]:
        return []

    def trigger_window(self, *key: str) -> TriggerWindow | None:
        return self.rows.get(key)  # type: ignore[arg-type]

    def commit(self, pending: dict[WindowKey, TriggerWindow | None]) -> None:
        for key, window in pending.items():
            if window is None:
                self.rows.pop(key, None)
            else:
                self.rows[key] = window


def _listener(trigger_body: str) -> object:
    source = f"""
id: listener
namespace: {NS}
tasks:
  - id: only
    type: io.kestra.plugin.core.debug.Return
    format: hi
triggers:
  - id: on_upstreams
    type: io.kestra.plugin.core.trigger.Flow
{trigger_body}
"""
    flow = load_flow(source)
    flow.revision = 1
    return flow


PRECONDITIONS = """
    preconditions:
      id: both
      flows:
        - namespace: company.team
          flowId: a
          states: [SUCCESS]
        - namespace: company.team
          flowId: b
          states: [SUCCESS]
          labels:
            team: data
"""


def _ended(flow_id: str, state: str = "SUCCESS", labels: dict[str, str] | None = None) -> Execution:
    execution = Execution.new(namespace=NS, flow_id=flow_id, flow_revision=1)
    execution.labels = [Label(key=k, value=v) for k, v in (labels or {}).items()]
    execution.state.set("RUNNING")
    execution.state.set(state)
    return execution


class Harness:
    """Ends upstream executions one batch each, committing window writes in between."""

    def __init__(self, trigger_body: str) -> None:
        self.flow = _listener(trigger_body)
        self.view = FakeView()
        self.renderer = Renderer()

    def end(self, execution: Execution, now: float) -> list[Execution]:
        pending: dict[WindowKey, TriggerWindow | None] = {}
        upstream_flow = load_flow(_upstream(execution.flow_id))
        upstream_flow.revision = 1
        created = triggered_executions(
            execution,
            upstream_flow,
            [(self.flow, self.flow.triggers[0])],
            self.renderer,
            windows=WindowBook(self.view, pending),
            now=now,
        )
        self.view.commit(pending)
        return created


def test_duration_windows_are_aligned_and_shifted_by_the_advance() -> None:
    now = _at("2024-03-10T07:30:00")
    assert bounds(TimeWindow(), now) == (_at("2024-03-10T00:00:00"), _at("2024-03-11T00:00:00"))
    six = TimeWindow(window="PT6H", window_advance="PT6H")
    assert bounds(six, now) == (_at("2024-03-10T06:00:00"), _at("2024-03-10T12:00:00"))
    day_from_six = TimeWindow(window="P1D", window_advance="PT6H")
    early = _at("2024-03-10T03:00:00")
    assert bounds(day_from_six, early) == (_at("2024-03-09T06:00:00"), _at("2024-03-10T06:00:00"))


def test_daily_windows_and_deadlines_exclude_other_hours() -> None:
    deadline = TimeWindow(type="DAILY_TIME_DEADLINE", deadline="09:00:00")
    assert bounds(deadline, _at("2024-03-10T08:59:00")) == (
        _at("2024-03-10T00:00:00"),
        _at("2024-03-10T09:00:00"),
    )
    assert bounds(deadline, _at("2024-03-10T09:00:01")) is None
    daily = TimeWindow(type="DAILY_TIME_WINDOW", start_time="06:00", end_time="09:00")
    assert bounds(daily, _at("2024-03-10T05:00:00")) is None
    assert bounds(daily, _at("2024-03-10T07:00:00")) is not None


def test_preconditions_fire_once_when_every_upstream_succeeded_in_the_window() -> None:
    h = Harness(PRECONDITIONS)
    t = _at("2024-03-10T08:00:00")
    assert h.end(_ended("a"), t) == []
    assert h.end(_ended("b"), t + 60) == []  # label missing: not satisfied
    assert h.end(_ended("a", "FAILED"), t + 90) == []
    fired = h.end(_ended("b", labels={"team": "data"}), t + 120)
    assert len(fired) == 1
    assert fired[0].trigger.variables["flowId"] == "b"
    assert h.view.rows == {}  # resetOnSuccess: the window starts over
    assert h.end(_ended("b", labels={"team": "data"}), t + 180) == []


def test_results_expire_with_their_window() -> None:
    h = Harness(PRECONDITIONS)
    assert h.end(_ended("a"), _at("2024-03-10T23:59:00")) == []
    # The next day is a new window: a's success of yesterday no longer counts.
    assert h.end(_ended("b", labels={"team": "data"}), _at("2024-03-11T00:01:00")) == []
    assert h.end(_ended("a"), _at("2024-03-11T00:02:00")) != []


def test_reset_on_success_false_fires_on_every_later_match_in_the_window() -> None:
    h = Harness(PRECONDITIONS + "      resetOnSuccess: false\n")
    t = _at("2024-03-10T08:00:00")
    h.end(_ended("a"), t)
    assert len(h.end(_ended("b", labels={"team": "data"}), t + 1)) == 1
    assert len(h.end(_ended("a"), t + 2)) == 1
    assert h.end(_ended("unrelated"), t + 3) == []


def test_sliding_window_forgets_results_older_than_the_window() -> None:
    h = Harness(
        PRECONDITIONS + "      timeWindow:\n        type: SLIDING_WINDOW\n        window: PT1H\n"
    )
    t = _at("2024-03-10T08:30:00")
    h.end(_ended("a"), t)
    assert h.end(_ended("b", labels={"team": "data"}), t + 3601) == []
    assert len(h.end(_ended("a"), t + 3700)) == 1


def test_where_filters_with_expressions_regex_and_lists() -> None:
    body = """
    preconditions:
      id: filtered
      where:
        - id: prod
          filters:
            - field: NAMESPACE
              type: STARTS_WITH
              value: company
            - field: EXPRESSION
              type: IS_TRUE
              value: "{{ labels.env == 'prod' }}"
        - id: either
          operand: OR
          filters:
            - field: FLOW_ID
              type: REGEX
              value: "report-[0-9]+"
            - field: STATE
              type: IN
              values: [WARNING]
"""
    h = Harness(body)
    t = _at("2024-03-10T08:00:00")
    assert h.end(_ended("other", labels={"env": "dev"}), t) == []
    assert h.end(_ended("report-12", labels={"env": "dev"}), t + 1) == []  # `either` only
    assert len(h.end(_ended("x", labels={"env": "prod"}), t + 2)) == 1  # `prod` completes


def test_multiple_condition_with_named_conditions_and_other_conditions() -> None:
    body = """
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionNamespace
        namespace: company
        comparison: PREFIX
      - id: multiple
        type: io.kestra.plugin.core.condition.MultipleCondition
        window: PT1H
        conditions:
          flow-a:
            type: io.kestra.plugin.core.condition.ExecutionFlow
            namespace: company.team
            flowId: a
          late:
            type: io.kestra.plugin.core.condition.Expression
            expression: "{{ trigger.state == 'WARNING' }}"
"""
    h = Harness(body)
    t = _at("2024-03-10T08:10:00")
    assert h.end(_ended("a"), t) == []
    fired = h.end(_ended("c", "WARNING"), t + 10)
    assert [e.trigger.variables["state"] for e in fired] == ["WARNING"]


def test_a_flow_never_triggers_itself_through_its_windows() -> None:
    h = Harness(PRECONDITIONS.replace("flowId: b", "flowId: listener"))
    t = _at("2024-03-10T08:00:00")
    h.end(_ended("a"), t)
    me = _ended("listener", labels={"team": "data"})
    assert h.end(me, t + 1) == []


LISTENER = """
id: listener
namespace: company.team
inputs:
  - id: seen
    type: STRING
tasks:
  - id: only
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.seen }}"
triggers:
  - id: on_upstreams
    type: io.kestra.plugin.core.trigger.Flow
    inputs:
      seen: "{{ trigger.flowId }}"
    preconditions:
      id: both
      flows:
        - namespace: company.team
          flowId: a
        - namespace: company.team
          flowId: b
"""


def _upstream(flow_id: str) -> str:
    return f"""
id: {flow_id}
namespace: company.team
tasks:
  - id: only
    type: io.kestra.plugin.core.debug.Return
    format: "{flow_id}"
"""


async def _listeners(engine: Engine) -> list[Execution]:
    return await engine.list_executions(NS, "listener")


@pytest.mark.anyio
async def test_windows_persist_between_batches_and_fire_once(database_url: str) -> None:
    async with Engine.open(database_url) as engine:
        for source in (LISTENER, _upstream("a"), _upstream("b")):
            await engine.deploy_source(source)
        first = await engine.create_execution(NS, "a")
        await engine.wait_for(first.id)
        view = _view_of(engine)
        stored = await view("company.team", "listener", "on_upstreams", "both")
        assert stored is not None and list(stored.results) == ["condition_1"]
        assert await _listeners(engine) == []
        second = await engine.create_execution(NS, "b")
        await engine.wait_for(second.id)
        listeners = await _wait_for_count(engine, 1)
        done = await engine.wait_for(listeners[0].id)
        assert done.state.current == "SUCCESS"
        assert done.inputs == {"seen": "b"}
        assert await view("company.team", "listener", "on_upstreams", "both") is None


@pytest.mark.anyio
async def test_an_input_render_error_creates_no_execution(tmp_path, caplog) -> None:
    broken = LISTENER.replace("{{ trigger.flowId }}", "{{ trigger.nothing.here }}")
    async with Engine.open(f"sqlite:///{tmp_path}/k.db") as engine:
        for source in (broken, _upstream("a"), _upstream("b")):
            await engine.deploy_source(source)
        for flow_id in ("a", "b"):
            await engine.wait_for((await engine.create_execution(NS, flow_id)).id)
        assert await _listeners(engine) == []
    assert any("inputs not rendered" in r.getMessage() for r in caplog.records)


def _view_of(engine: Engine):
    """Reads a window row as stored (the executor's batch reads the same rows)."""

    async def read(*key: str) -> TriggerWindow | None:
        found = await engine.store.trigger_windows([key])
        return found[0] if found else None

    return read


async def _wait_for_count(engine: Engine, count: int) -> list[Execution]:
    import anyio

    for _ in range(200):
        found = await _listeners(engine)
        if len(found) >= count:
            return found
        await anyio.sleep(0.05)
    raise AssertionError(f"expected {count} listener executions")
