"""Kestra's query filters (`model.query.Query`) as SQL conditions, the same for both dialects.

A filter becomes a `Cond`: the name of a small SQL fragment (`where_<op>` in each
dialect's queries.sql, parameters numbered from 1), the column it applies to (from a fixed
table per resource, never from the request) and its parameters. An OR group becomes an
`AnyOf`. `render` numbers the fragments' parameters after the base query's and puts the
conditions where the base query says `/*where*/`. What differs between dialects stays SQL
text: `LIKE` versus `ILIKE`, `json_each` versus `jsonb`, `REGEXP` versus `~`.

A filter this store cannot answer raises `UnsupportedFilter` naming it: never a silent
"everything matches".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from kestrad.model.durations import parse_duration
from kestrad.model.query import Filter, Op, Query, Resource
from kestrad.model.state import ALL_STATES, iso_from_epoch
from kestrad.store.statements import AnyOf, Cond, Filtered, Where

WHERE_MARK = "/*where*/"
SYSTEM_NAMESPACE = "system"


class UnsupportedFilter(ValueError):
    """A filter the store cannot answer (a field it does not keep, a bad value)."""


# Columns of each resource's table a filter field maps to (trusted SQL, never user text).
COLUMNS: dict[Resource, dict[str, str]] = {
    Resource.EXECUTION: {
        "namespace": "e.namespace",
        "flowId": "e.flow_id",
        "state": "e.state",
        "startDate": "e.start_date",
        "endDate": "e.end_date",
        "triggerExecutionId": "e.trigger_execution_id",
        "labels": "e.labels",
        "id": "e.id",
    },
    Resource.LOG: {
        "namespace": "l.namespace",
        "flowId": "l.flow_id",
        "executionId": "l.execution_id",
        "taskId": "l.task_id",
        "taskRunId": "l.task_run_id",
        "startDate": "l.timestamp",
        "endDate": "l.timestamp",
        "message": "l.message",
        "level": "l.level",
    },
    Resource.TRIGGER: {
        "namespace": "t.namespace",
        "flowId": "t.flow_id",
        "triggerId": "t.trigger_id",
    },
}

# Free text (`q`) searches these columns of each resource.
Q_COLUMNS: dict[Resource, tuple[str, ...]] = {
    Resource.EXECUTION: ("e.id", "e.namespace", "e.flow_id"),
    Resource.LOG: ("l.message",),
    Resource.TRIGGER: ("t.namespace", "t.flow_id", "t.trigger_id"),
}

_SIMPLE = {
    Op.EQUALS: "eq",
    Op.NOT_EQUALS: "ne",
    Op.IN: "in",
    Op.NOT_IN: "not_in",
    Op.CONTAINS: "contains",
    Op.STARTS_WITH: "starts",
    Op.ENDS_WITH: "ends",
    Op.REGEX: "regex",
    Op.PREFIX: "prefix",
    Op.GREATER_THAN: "gt",
    Op.GREATER_THAN_OR_EQUAL_TO: "ge",
    Op.LESS_THAN: "lt",
    Op.LESS_THAN_OR_EQUAL_TO: "le",
}
_DATE_FIELDS = frozenset({"startDate", "endDate"})
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR")
MAX_REGEX = 500


def compile_query(query: Query, resource: Resource, now: float) -> Where:
    """Every filter of `query` as conditions on `resource`'s table, all ANDed.

    `now` (epoch seconds) anchors `timeRange` (the last PT24H, say): given, not read, so a
    test chooses it.
    """
    where: list[Cond | AnyOf] = []
    for item in query.filters:
        where.extend(_conditions(item, resource, now))
    for group in query.groups:
        members = tuple(
            tuple(c for item in member for c in _conditions(item, resource, now))
            for member in group.members
        )
        where.append(AnyOf(members))
    return tuple(where)


def _conditions(item: Filter, resource: Resource, now: float) -> list[Cond | AnyOf]:
    field, op, value = item.field, item.op, item.value
    if field == "q":
        text = _text(item)
        if op != Op.EQUALS:
            raise UnsupportedFilter("`q` takes EQUALS only here")
        return [AnyOf(tuple((_cond("contains", col, text),) for col in Q_COLUMNS[resource]))]
    if field == "timeRange":
        seconds = _duration(_text(item))
        return [_cond("ge", _column(resource, "startDate"), iso_from_epoch(now - seconds))]
    if field == "scope":
        return _scope(item, resource)
    if field == "childFilter":
        column = _column(resource, "triggerExecutionId")
        kind = _text(item).upper()
        if kind not in ("CHILD", "MAIN"):
            raise UnsupportedFilter(f"`childFilter` is CHILD or MAIN, not `{kind}`")
        null = "is_null" if (kind == "MAIN") == (op == Op.EQUALS) else "not_null"
        return [Cond(null, column, ())]
    if field == "kind":
        # Every execution here is a NORMAL one (no tests, no playground runs).
        values = value if isinstance(value, list) else [_text(item)]
        normal = "NORMAL" in [v.upper() for v in values]
        keeps = normal if op in (Op.EQUALS, Op.IN) else not normal
        return [] if keeps else [Cond("never", "", ())]
    if field == "labels":
        return _labels(item, resource)
    if field == "level" and resource == Resource.LOG:
        level = _text(item).upper()
        if level not in LOG_LEVELS:
            raise UnsupportedFilter(f"unknown log level `{level}` (one of {', '.join(LOG_LEVELS)})")
        index = LOG_LEVELS.index(level)
        chosen = (
            LOG_LEVELS[index:] if op == Op.GREATER_THAN_OR_EQUAL_TO else LOG_LEVELS[: index + 1]
        )
        return [_cond("in", _column(resource, "level"), list(chosen))]
    column = _column(resource, field)
    if field == "state":
        states = value if isinstance(value, list) else [_text(item)]
        unknown = [s for s in states if s.upper() not in ALL_STATES]
        if unknown:
            raise UnsupportedFilter(f"unknown state `{unknown[0]}`")
        value = [s.upper() for s in states] if isinstance(value, list) else states[0].upper()
    if field in _DATE_FIELDS:
        value = _instant(_text(item))
    if op == Op.REGEX:
        pattern = _text(item)
        if len(pattern) > MAX_REGEX:
            raise UnsupportedFilter(f"the REGEX pattern is longer than {MAX_REGEX} characters")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise UnsupportedFilter(f"invalid REGEX `{pattern}`: {exc}") from None
    if op == Op.PREFIX:
        text = _text(item)
        return [Cond("prefix", column, (text, _like_escape(text) + ".%"))]
    if op in (Op.IN, Op.NOT_IN):
        return [_cond(_SIMPLE[op], column, list(value) if isinstance(value, list) else [value])]
    return [_cond(_SIMPLE[op], column, value if isinstance(value, str) else _text(item))]


def _cond(fragment: str, column: str, value: Any) -> Cond:
    if fragment == "contains":
        return Cond("like", column, ("%" + _like_escape(value) + "%",))
    if fragment == "starts":
        return Cond("like", column, (_like_escape(value) + "%",))
    if fragment == "ends":
        return Cond("like", column, ("%" + _like_escape(value),))
    return Cond(fragment, column, (value,))


def _scope(item: Filter, resource: Resource) -> list[Cond | AnyOf]:
    values = item.value if isinstance(item.value, list) else [_text(item)]
    scopes = {v.upper() for v in values}
    if not scopes <= {"USER", "SYSTEM"}:
        raise UnsupportedFilter(f"`scope` is USER or SYSTEM, not {', '.join(sorted(scopes))}")
    if item.op in (Op.NOT_EQUALS, Op.NOT_IN):
        scopes = {"USER", "SYSTEM"} - scopes
    column = _column(resource, "namespace")
    if scopes == {"USER", "SYSTEM"}:
        return []
    if not scopes:
        return [Cond("never", "", ())]
    system = (SYSTEM_NAMESPACE, _like_escape(SYSTEM_NAMESPACE) + ".%")
    return [Cond("prefix" if scopes == {"SYSTEM"} else "not_prefix", column, system)]


def _labels(item: Filter, resource: Resource) -> list[Cond | AnyOf]:
    column = _column(resource, "labels")
    pairs = item.value
    if isinstance(pairs, str):  # `filters[labels][EQUALS]=key:value`
        key, sep, val = pairs.partition(":")
        if not sep:
            raise UnsupportedFilter("a labels filter is filters[labels][OP][key]=value")
        pairs = {key: val}
    if not isinstance(pairs, Mapping):
        raise UnsupportedFilter("a labels filter is filters[labels][OP][key]=value")
    if item.op == Op.EQUALS:
        return [Cond("label_eq", column, (k, v)) for k, v in pairs.items()]
    if item.op == Op.NOT_EQUALS:
        return [Cond("label_ne", column, (k, v)) for k, v in pairs.items()]
    if item.op == Op.CONTAINS:
        return [
            Cond("label_like", column, (k, "%" + _like_escape(v) + "%")) for k, v in pairs.items()
        ]
    raise UnsupportedFilter(f"labels take EQUALS, NOT_EQUALS or CONTAINS here, not {item.op.value}")


def _column(resource: Resource, field: str) -> str:
    try:
        return COLUMNS[resource][field]
    except KeyError:
        raise UnsupportedFilter(
            f"{resource.value.lower()}s cannot be filtered on `{field}` by this server"
        ) from None


def _text(item: Filter) -> str:
    if isinstance(item.value, str):
        return item.value
    raise UnsupportedFilter(f"`{item.field}` {item.op.value} takes one value")


def _duration(text: str) -> float:
    try:
        return parse_duration(text).total_seconds()
    except (ValueError, TypeError):
        raise UnsupportedFilter(f"`timeRange` must be an ISO-8601 duration, not `{text}`") from None


def _instant(text: str) -> str:
    """A date as the store writes them (UTC, microseconds, `Z`), so text order is time order."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+", 1))
    except ValueError:
        raise UnsupportedFilter(f"`{text}` is not an ISO-8601 date") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return iso_from_epoch(moment.timestamp())


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# -- rendering (the connectors' side) --------------------------------------------------------
_NUMBERED = re.compile(r"([?$])(\d+)")


def render(statement: Filtered, sql: Mapping[str, str]) -> tuple[str, list[object]]:
    """The base query's SQL with its conditions in place, and every parameter in order."""
    base = sql[statement.inner.name]
    params: list[object] = list(statement.inner.params)
    clause = _render_all(statement.where, sql, params)
    return base.replace(WHERE_MARK, clause), params


def _render_all(where: Sequence[Cond | AnyOf], sql: Mapping[str, str], params: list[object]) -> str:
    parts = [_render_one(item, sql, params) for item in where]
    return " AND ".join(parts) if parts else "1 = 1"


def _render_one(item: Cond | AnyOf, sql: Mapping[str, str], params: list[object]) -> str:
    if isinstance(item, AnyOf):
        members = [_render_all(member, sql, params) for member in item.members]
        return "(" + " OR ".join(f"({m})" for m in members) + ")" if members else "1 = 0"
    offset = len(params)
    params.extend(item.params)
    fragment = sql["where_" + item.fragment].replace("{col}", item.column)
    return "(" + _NUMBERED.sub(lambda m: f"{m.group(1)}{int(m.group(2)) + offset}", fragment) + ")"
