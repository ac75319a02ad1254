"""Charts as SVG drawn on the server: counts per state, the Gantt of task runs, the
topology of a flow. Each function returns plain numbers for a template to draw, so the
geometry is testable without a browser and no charting library is shipped."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kestrad.model.execution import Execution, TaskRun
from kestrad.model.state import StateInfo, parse_iso
from kestrad.model.task_tree import iter_children

COLOURS = {
    "SUCCESS": "#1f8a4c",
    "WARNING": "#b7791f",
    "FAILED": "#c53030",
    "KILLED": "#c53030",
    "KILLING": "#2b6cb0",
    "RUNNING": "#2b6cb0",
    "RETRYING": "#2b6cb0",
    "PAUSED": "#805ad5",
    "CANCELLED": "#a0aec0",
    "SKIPPED": "#a0aec0",
    "QUEUED": "#718096",
    "CREATED": "#718096",
}
IDLE = "#cbd5e0"  # a task with no run yet


def colour(state: str | None) -> str:
    return COLOURS.get(state or "", IDLE)


# -- counts per state -----------------------------------------------------------------------
@dataclass
class Bar:
    label: str
    count: int
    x: float
    y: float
    width: float
    height: float
    colour: str


@dataclass
class BarChart:
    bars: list[Bar]
    width: int
    height: int
    total: int


def state_bars(totals: dict[str, int], *, width: int = 640, height: int = 150) -> BarChart:
    """One bar per state, heights relative to the largest count; labels below."""
    top = max(totals.values(), default=0) or 1
    slot = width / max(len(totals), 1)
    plot = height - 34
    bars = []
    for index, (state, count) in enumerate(totals.items()):
        h = plot * count / top
        bars.append(Bar(state, count, index * slot + 6, 14 + plot - h, slot - 12, h, colour(state)))
    return BarChart(bars, width, height, sum(totals.values()))


# -- Gantt ----------------------------------------------------------------------------------
@dataclass
class Segment:
    x: float
    width: float
    colour: str
    title: str


@dataclass
class GanttRow:
    label: str
    task_run_id: str
    state: str
    depth: int
    y: float
    segments: list[Segment]
    duration: float


@dataclass
class Gantt:
    rows: list[GanttRow]
    width: int
    height: int
    span: float  # seconds the chart covers
    label_width: int
    ticks: list[tuple[float, str, str]] = field(default_factory=list)  # x, label, anchor


ROW = 20


def _epoch(text: str | None, now: float) -> float:
    return parse_iso(text).timestamp() if text else now


def _interval(state: StateInfo, now: float) -> tuple[float, float]:
    return _epoch(state.start_date, now), _epoch(state.end_date, now)


def gantt(execution: Execution, *, width: int = 1100, label_width: int = 280) -> Gantt:
    """A row per task run, in creation order, indented under its parent. A runnable's
    attempts are drawn as separate segments (a retry shows as a second bar); a loop's
    iterations are rows of their own, labelled with their value."""
    now = datetime.now(UTC).timestamp()
    start, end = _interval(execution.state, now)
    runs = execution.task_run_list
    for run in runs:
        end = max(end, _interval(run.state, now)[1])
    span = max(end - start, 0.001)
    plot = width - label_width - 10
    depth_of: dict[str, int] = {}
    rows = []
    for index, run in enumerate(runs):
        depth = depth_of.get(run.parent_task_run_id or "", -1) + 1
        depth_of[run.id] = depth
        rows.append(_gantt_row(run, depth, index * ROW + 22, start, span, plot, now))
    ticks = [
        (label_width + plot * i / 4, _short(span * i / 4), "end" if i == 4 else "middle")
        for i in range(5)
    ]
    return Gantt(rows, width, len(rows) * ROW + 30, span, label_width, ticks)


def _gantt_row(
    run: TaskRun, depth: int, y: float, start: float, span: float, plot: float, now: float
) -> GanttRow:
    intervals = [(a.state.current, *_interval(a.state, now)) for a in run.attempts] or [
        (run.state.current, *_interval(run.state, now))
    ]
    segments = []
    for number, (state, begin, finish) in enumerate(intervals, start=1):
        x = (begin - start) / span * plot
        w = max((finish - begin) / span * plot, 2.0)
        title = f"attempt {number}: {state}, {finish - begin:.3f}s"
        segments.append(Segment(x, w, colour(state), title))
    label = run.task_id + (f" [{run.value}]" if run.value is not None else "")
    begin, finish = _interval(run.state, now)
    return GanttRow(label, run.id, run.state.current, depth, y, segments, finish - begin)


def _short(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


# -- topology -------------------------------------------------------------------------------
@dataclass
class Node:
    task_id: str
    kind: str
    x: float
    y: float
    state: str | None
    colour: str
    runs: int
    group: str  # the section or branch it sits in: tasks, then, cases.a, errors …


@dataclass
class Edge:
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass
class Topology:
    nodes: list[Node]
    edges: list[Edge]
    width: int
    height: int


NODE_W, NODE_H, STEP_Y, INDENT = 250, 26, 36, 34


def topology(flow: Any, execution: Execution | None = None) -> Topology:
    """The flow's tasks top to bottom, children indented under their flowable parent and
    linked to it; each node coloured by the state of its task's latest run."""
    latest: dict[str, TaskRun] = {}
    counts: dict[str, int] = {}
    for run in execution.task_run_list if execution else ():
        latest[run.task_id] = run
        counts[run.task_id] = counts.get(run.task_id, 0) + 1
    nodes: list[Node] = []
    edges: list[Edge] = []

    def place(tasks: list[Any], depth: int, group: str, parent: Node | None) -> None:
        previous: Node | None = None
        for task in tasks:
            task_id = getattr(task, "id", None) or "?"
            run = latest.get(task_id)
            state = run.state.current if run else None
            node = Node(
                task_id,
                str(getattr(task, "type", "")).rsplit(".", 1)[-1],
                10 + depth * INDENT,
                10 + len(nodes) * STEP_Y,
                state,
                colour(state),
                counts.get(task_id, 0),
                group,
            )
            nodes.append(node)
            if previous is not None:  # from the sibling above, down its spine
                x = previous.x + 12
                edges.append(Edge(x, previous.y + NODE_H, x, node.y))
            elif parent is not None:  # an elbow from the flowable parent
                x, mid = parent.x + 12, node.y + NODE_H / 2
                edges.append(Edge(x, parent.y + NODE_H, x, mid))
                edges.append(Edge(x, mid, node.x, mid))
            previous = node
            for label, children in iter_children(task):
                place(children, depth + 1, label, node)

    for section, tasks in flow.sections():
        place(tasks, 0, section, None)
    depth_max = max((n.x for n in nodes), default=10)
    return Topology(nodes, edges, int(depth_max + NODE_W + 20), len(nodes) * STEP_Y + 20)
