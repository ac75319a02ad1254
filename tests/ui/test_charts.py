"""The SVG geometry of the web UI's charts, without a browser: what is drawn where."""

from __future__ import annotations

from kestrad.flows.loader import load_flow
from kestrad.model.execution import Execution, new_task_run
from kestrad.model.state import History, StateInfo
from kestrad.ui import charts

BRANCHES = """
id: branches
namespace: ui.tests
tasks:
  - id: check
    type: io.kestra.plugin.core.flow.If
    condition: "{{ true }}"
    then:
      - id: yes
        type: io.kestra.plugin.core.log.Log
        message: yes
    else:
      - id: no
        type: io.kestra.plugin.core.log.Log
        message: no
  - id: fan
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: left
        type: io.kestra.plugin.core.log.Log
        message: l
      - id: right
        type: io.kestra.plugin.core.log.Log
        message: r
errors:
  - id: alert
    type: io.kestra.plugin.core.log.Log
    message: failed
"""


def test_topology_indents_children_under_their_flowable_and_keeps_sections() -> None:
    flow = load_flow(BRANCHES)
    topology = charts.topology(flow)
    by_id = {n.task_id: n for n in topology.nodes}
    assert [n.task_id for n in topology.nodes] == [
        "check", "yes", "no", "fan", "left", "right", "alert",
    ]  # fmt: skip
    assert by_id["yes"].group == "then" and by_id["no"].group == "else"
    assert by_id["alert"].group == "errors"
    assert by_id["yes"].x > by_id["check"].x == by_id["fan"].x
    assert len({n.y for n in topology.nodes}) == len(topology.nodes)  # no overlap
    assert all(n.state is None and n.colour == charts.IDLE for n in topology.nodes)
    assert topology.height >= max(n.y for n in topology.nodes) + charts.NODE_H


def _run(execution: Execution, task_id: str, start: str, end: str, state: str, **kw):
    run = new_task_run(
        execution, task_id, parent=kw.get("parent"), value=kw.get("value"), date=start
    )
    run.state = StateInfo(current=state, histories=[History(state="CREATED", date=start)])
    run.state.histories.append(History(state=state, date=end))
    execution.task_run_list.append(run)
    return run


def test_topology_colours_each_task_by_its_latest_run() -> None:
    flow = load_flow(BRANCHES)
    execution = Execution.new(namespace="ui.tests", flow_id="branches", flow_revision=1)
    _run(
        execution, "check", "2026-01-01T00:00:00.000000Z", "2026-01-01T00:00:01.000000Z", "SUCCESS"
    )
    _run(execution, "left", "2026-01-01T00:00:00.000000Z", "2026-01-01T00:00:01.000000Z", "FAILED")
    nodes = {n.task_id: n for n in charts.topology(flow, execution).nodes}
    assert nodes["check"].colour == charts.COLOURS["SUCCESS"]
    assert nodes["left"].colour == charts.COLOURS["FAILED"] and nodes["left"].runs == 1
    assert nodes["right"].state is None


def test_gantt_places_bars_in_time_and_rows_under_their_parent() -> None:
    execution = Execution.new(namespace="ui.tests", flow_id="loop", flow_revision=1)
    execution.state = StateInfo(
        current="SUCCESS",
        histories=[
            History(state="CREATED", date="2026-01-01T00:00:00.000000Z"),
            History(state="SUCCESS", date="2026-01-01T00:00:10.000000Z"),
        ],
    )
    parent = _run(
        execution, "each", "2026-01-01T00:00:00.000000Z", "2026-01-01T00:00:10.000000Z", "SUCCESS"
    )
    _run(
        execution,
        "say",
        "2026-01-01T00:00:05.000000Z",
        "2026-01-01T00:00:10.000000Z",
        "SUCCESS",
        parent=parent,
        value="b",
    )
    gantt = charts.gantt(execution, width=1110, label_width=100)
    first, second = gantt.rows
    assert (first.label, first.depth) == ("each", 0)
    assert (second.label, second.depth) == ("say [b]", 1)
    plot = 1110 - 100 - 10
    assert first.segments[0].x == 0 and abs(first.segments[0].width - plot) < 0.01
    assert abs(second.segments[0].x - plot / 2) < 0.01  # starts half-way
    assert gantt.ticks[-1][1] == "10.0s" and gantt.ticks[-1][2] == "end"


def test_counts_bars_scale_to_the_largest() -> None:
    chart = charts.state_bars({"SUCCESS": 10, "FAILED": 5, "RUNNING": 0})
    heights = {b.label: b.height for b in chart.bars}
    assert heights["FAILED"] * 2 == heights["SUCCESS"] and heights["RUNNING"] == 0
    assert chart.total == 15
