"""`filters[field][OP]=value` query parameters → a `model.query.Query`, or a 4xx.

Kestra's syntax (its `QueryFilterFormatBinder`), as its SDK sends it:
- `filters[namespace][EQUALS]=company.team`: one filter; repeated keys give several;
- `filters[state][IN]=FAILED,KILLED` (brackets around the list are stripped);
- `filters[labels][EQUALS][team]=data`: a label map, several keys with one op merged;
- `filters[or][0][flowId][EQUALS]=a&filters[or][1][flowId][EQUALS]=b`: one OR group
  (`and` groups too), members by index, one level deep.
All top-level filters and groups are ANDed.

Nothing is ignored: an unknown field or operation is a 422 (as Kestra's enum parsing
fails), a field the resource cannot be filtered on or an operation the field does not
take is a 400, each naming the parameter. A caller that misspells a filter learns it
before acting, instead of acting on everything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from kestrad.api.errors import ApiError
from kestrad.model.query import (
    FIELD_OPS,
    RESOURCE_FIELDS,
    Filter,
    FilterGroup,
    FilterValue,
    Op,
    Query,
    Resource,
)

# Bounds on what one request may ask, so a hostile query string costs nothing.
MAX_FILTERS = 100
MAX_LIST_VALUES = 1000
MAX_GROUP_MEMBERS = 50

_PLAIN = re.compile(r"^filters\[([^\[\]]+)\]\[([^\[\]]+)\](?:\[([^\[\]]*)\])?$")
_GROUP = re.compile(
    r"^filters\[(or|and)\]\[(\d{1,3})\]\[([^\[\]]+)\]\[([^\[\]]+)\](?:\[([^\[\]]*)\])?$"
)


def parse_filters(params: Iterable[tuple[str, str]], resource: Resource) -> Query:
    """Every `filters[…]` parameter of a request; other parameters are left alone."""
    plain: list[tuple[str, str, str | None, str, str]] = []
    grouped: dict[tuple[str, int], list[tuple[str, str, str | None, str, str]]] = {}
    count = 0
    for key, value in params:
        if not key.startswith("filters"):
            continue
        count += 1
        if count > MAX_FILTERS:
            raise ApiError(400, f"Invalid query filters: more than {MAX_FILTERS} filters")
        group = _GROUP.match(key)
        if group is not None:
            kind, index, field, op, label = group.groups()
            grouped.setdefault((kind, int(index)), []).append((field, op, label, value, key))
            continue
        match = _PLAIN.match(key)
        if match is None:
            raise ApiError(
                400,
                f"Invalid query filters: `{key}` is not filters[field][OPERATION] "
                "(or filters[labels][OPERATION][key], filters[or|and][i][field][OPERATION])",
            )
        field, op, label = match.groups()
        plain.append((field, op, label, value, key))
    filters = _build(plain, resource)
    groups: list[FilterGroup] = []
    for kind in ("or", "and"):
        members = [
            _build(items, resource)
            for (k, _), items in sorted(grouped.items(), key=lambda item: item[0][1])
            if k == kind
        ]
        if len(members) > MAX_GROUP_MEMBERS:
            raise ApiError(400, f"Invalid query filters: more than {MAX_GROUP_MEMBERS} members")
        if not members:
            continue
        if kind == "and":
            filters += [f for member in members for f in member]
        else:
            groups.append(FilterGroup(members=members))
    return Query(filters=filters, groups=groups)


def _build(items: list[tuple[str, str, str | None, str, str]], resource: Resource) -> list[Filter]:
    out: list[Filter] = []
    labels: dict[Op, dict[str, str]] = {}
    for field, op_text, label, value, key in items:
        op = _op(op_text, key)
        _check(field, op, resource, key)
        if field == "labels" and label is not None:
            if not label:
                raise ApiError(400, f"Invalid query filters: `{key}` has an empty label key")
            labels.setdefault(op, {})[label] = value
            continue
        if label is not None:
            raise ApiError(400, f"Invalid query filters: `{key}`: only labels take a key")
        out.append(Filter(field=field, op=op, value=_value(op, value, key)))
    out += [Filter(field="labels", op=op, value=pairs) for op, pairs in labels.items()]
    return out


def _op(text: str, key: str) -> Op:
    try:
        return Op(text.upper())
    except ValueError:
        known = ", ".join(op.value for op in Op)
        raise ApiError(
            422, f"Invalid query filters: `{key}`: unknown operation `{text}` (one of {known})"
        ) from None


def _check(field: str, op: Op, resource: Resource, key: str) -> None:
    if field not in FIELD_OPS:
        raise ApiError(422, f"Invalid query filters: `{key}`: unknown field `{field}`")
    allowed = RESOURCE_FIELDS[resource]
    if field not in allowed:
        raise ApiError(
            400,
            f"Invalid query filters: `{key}`: {resource.value.lower()}s cannot be filtered on "
            f"`{field}` (only {', '.join(sorted(allowed))})",
        )
    if op not in FIELD_OPS[field]:
        ops = ", ".join(sorted(o.value for o in FIELD_OPS[field]))
        raise ApiError(
            400, f"Invalid query filters: `{key}`: `{field}` does not take {op.value} (only {ops})"
        )


def _value(op: Op, raw: str, key: str) -> FilterValue:
    if op not in (Op.IN, Op.NOT_IN):
        return raw
    text = raw.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    values = [part.strip() for part in text.split(",") if part.strip()]
    if not values:
        raise ApiError(400, f"Invalid query filters: `{key}` needs at least one value")
    if len(values) > MAX_LIST_VALUES:
        raise ApiError(
            400, f"Invalid query filters: `{key}` has more than {MAX_LIST_VALUES} values"
        )
    return values
