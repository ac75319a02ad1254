"""What the web UI summarises: executions per state in a date range, and the latest
execution of each of a page of flows.

One count per state, each answered from a covering index ((state, start_date, id), or
(namespace, state, start_date, id) / (namespace, flow_id, state, start_date, id) when
filtered), so a range holding hundreds of thousands of rows is counted without reading
one execution document. A GROUP BY state over the range would read the table instead.
"""

from __future__ import annotations

from kestrad.store.records import ExecutionBrief
from kestrad.store.statements import All, Plan, Value

RANGE_START, RANGE_END = "", "~"  # before and after every ISO-8601 date


def count_by_state(
    states: list[str],
    start: str | None,
    end: str | None,
    namespace: str | None,
    flow_id: str | None,
    below: bool,
) -> Plan[dict[str, int]]:
    """{state: count}. `namespace` with `below` also counts its sub-namespaces (not with a
    flow: a flow belongs to one namespace)."""
    low, high = start or RANGE_START, end or RANGE_END
    out: dict[str, int] = {}
    for state in states:
        if flow_id is not None:
            name, params = "chart_count_flow_state", (namespace, flow_id, state, low, high)
        elif namespace is not None and below:
            name, params = "chart_count_tree_state", (namespace, state, low, high)
        elif namespace is not None:
            name, params = "chart_count_namespace_state", (namespace, state, low, high)
        else:
            name, params = "chart_count_state", (state, low, high)
        out[state] = int((yield Value(name, params)))
    return out


def latest_of_flows(
    flows: list[tuple[str, str]],
) -> Plan[dict[tuple[str, str], ExecutionBrief]]:
    """{(namespace, flow id): its newest execution} in one statement: per flow, one step
    down the (namespace, flow_id, start_date, id) index. Flows never run are absent."""
    if not flows:
        return {}
    rows = yield All(
        "execution_latest_of_flows",
        ([ns for ns, _ in flows], [fid for _, fid in flows]),
    )
    return {(r[0], r[1]): ExecutionBrief(id=r[2], state=r[3], start_date=r[4]) for r in rows}
