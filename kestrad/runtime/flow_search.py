"""Flows chosen by Kestra's query filters, their namespaces and their dependencies.

Every live flow is in the flow cache (`FlowCache.rows()`), so flows are filtered in
memory, with the same vocabulary as the SQL of executions (`model.query`): the API,
the UI and bulk actions by query all ask here. A filter flows cannot answer raises
`store.filters.UnsupportedFilter`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kestrad.model.query import Filter, Op, Query
from kestrad.model.task_tree import walk
from kestrad.store.filters import SYSTEM_NAMESPACE, UnsupportedFilter
from kestrad.store.records import FlowRow

SUBFLOW_TYPES = (
    "io.kestra.plugin.core.flow.Subflow",
    "io.kestra.core.tasks.flows.Subflow",
    "io.kestra.plugin.core.flow.Flow",
    "io.kestra.core.tasks.flows.Flow",
)


def folder_file(row: FlowRow | None, folder: str) -> str | None:
    """The file of the watched `folder` a flow comes from, or None (created through the
    API or the CLI, or run from a file elsewhere): such a flow is edited in its file."""
    if row is None or not row.file:
        return None
    try:
        inside = Path(row.file).resolve().is_relative_to(Path(folder).resolve())
    except (OSError, ValueError):
        return None
    return row.file if inside else None


def live_rows(rows: Iterable[FlowRow]) -> list[FlowRow]:
    return [r for r in rows if not r.deleted]


def namespaces_of(rows: Iterable[FlowRow]) -> list[str]:
    return sorted({r.namespace for r in rows if not r.deleted})


def select_flows(cache: Any, query: Query) -> list[FlowRow]:
    """The live flows matching every filter and group of `query`, by namespace then id."""
    out = []
    for row in live_rows(cache.rows()):
        labels = _labels(cache, row)
        if all(_match(f, row, labels) for f in query.filters) and all(
            any(all(_match(f, row, labels) for f in member) for member in group.members)
            for group in query.groups
        ):
            out.append(row)
    return sorted(out, key=lambda r: (r.namespace, r.id))


def _labels(cache: Any, row: FlowRow) -> dict[str, str]:
    try:
        flow = cache.parse(row)
    except Exception:  # a stored flow that no longer loads has no labels to match
        return {}
    return {str(k): str(v) for k, v in (flow.labels or {}).items()}


def _match(item: Filter, row: FlowRow, labels: dict[str, str]) -> bool:
    field, op, value = item.field, item.op, item.value
    if field == "labels":
        if not isinstance(value, dict):
            raise UnsupportedFilter("a labels filter is filters[labels][OP][key]=value")
        if op == Op.EQUALS:
            return all(labels.get(k) == v for k, v in value.items())
        if op == Op.NOT_EQUALS:
            return all(labels.get(k) != v for k, v in value.items())
        raise UnsupportedFilter(f"flow labels take EQUALS or NOT_EQUALS, not {op.value}")
    if field == "q":
        text = str(value).lower()
        return text in row.id.lower() or text in row.namespace.lower()
    if field == "scope":
        values = value if isinstance(value, list) else [value]
        system = _prefix(row.namespace, SYSTEM_NAMESPACE)
        hit = ("SYSTEM" if system else "USER") in [v.upper() for v in values]
        return hit if op in (Op.EQUALS, Op.IN) else not hit
    if field == "namespace":
        return compare(op, row.namespace, value)
    if field == "flowId":
        return compare(op, row.id, value)
    raise UnsupportedFilter(f"flows cannot be filtered on `{field}`")


def compare(op: Op, actual: str, value: Any) -> bool:
    """One string field against a filter's value, as the SQL fragments do."""
    if op in (Op.IN, Op.NOT_IN):
        values = value if isinstance(value, list) else [value]
        return (actual in values) == (op == Op.IN)
    text = str(value)
    if op == Op.EQUALS:
        return actual == text
    if op == Op.NOT_EQUALS:
        return actual != text
    if op == Op.CONTAINS:
        return text.lower() in actual.lower()
    if op == Op.STARTS_WITH:
        return actual.lower().startswith(text.lower())
    if op == Op.ENDS_WITH:
        return actual.lower().endswith(text.lower())
    if op == Op.PREFIX:
        return _prefix(actual, text)
    if op == Op.REGEX:
        try:
            return re.search(text, actual) is not None
        except re.error as exc:
            raise UnsupportedFilter(f"invalid REGEX `{text}`: {exc}") from None
    raise UnsupportedFilter(f"{op.value} does not apply to text")


def _prefix(actual: str, prefix: str) -> bool:
    return actual == prefix or actual.startswith(prefix + ".")


def dependencies(cache: Any, namespace: str, flow_id: str) -> dict[str, Any]:
    """Kestra's FlowTopologyGraph: this flow, the flows it calls as subflows and those that
    call it, with a FLOW_TASK edge from caller to callee."""
    edges: set[tuple[tuple[str, str], tuple[str, str]]] = set()
    for row in live_rows(cache.rows()):
        try:
            flow = cache.parse(row)
        except Exception:
            continue
        for task, _ in walk(list(flow.tasks or ()) + list(flow.errors or ())):
            if getattr(task, "type", "") in SUBFLOW_TYPES:
                callee = (str(task.namespace), str(task.flow_id))
                caller = (row.namespace, row.id)
                if (namespace, flow_id) in (caller, callee):
                    edges.add((caller, callee))
    keys = sorted({(namespace, flow_id)} | {k for edge in edges for k in edge})
    return {
        "nodes": [{"uid": f"{ns}_{fid}", "namespace": ns, "id": fid} for ns, fid in keys],
        "edges": [
            {"source": f"{a[0]}_{a[1]}", "target": f"{b[0]}_{b[1]}", "relation": "FLOW_TASK"}
            for a, b in sorted(edges)
        ],
    }


def select_triggers(rows: Iterable[Any], query: Query) -> list[Any]:
    """The trigger states matching every filter and group of `query`, ordered by key."""

    def match(item: Filter, row: Any) -> bool:
        if item.field == "namespace":
            return compare(item.op, row.namespace, item.value)
        if item.field == "flowId":
            return compare(item.op, row.flow_id, item.value)
        if item.field == "triggerId":
            return compare(item.op, row.trigger_id, item.value)
        if item.field == "q":
            text = str(item.value).lower()
            return any(
                text in part.lower() for part in (row.namespace, row.flow_id, row.trigger_id)
            )
        if item.field == "locked":
            locked = str(item.value).lower() == "true"
            return (row.execution_id is not None) == locked
        raise UnsupportedFilter(f"triggers cannot be filtered on `{item.field}` by this server")

    out = [
        row
        for row in rows
        if all(match(f, row) for f in query.filters)
        and all(any(all(match(f, row) for f in m) for m in g.members) for g in query.groups)
    ]
    return sorted(out, key=lambda r: (r.namespace, r.flow_id, r.trigger_id))
