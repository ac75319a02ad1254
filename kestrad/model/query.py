"""Kestra's query filters as data: what `filters[field][OP]=value` asks of a search.

Kestra's API (and its SDK, `kestrapy`) filters every search and every bulk `by-query`
action with these. They are data here, below the API that parses them and the store that
turns them into SQL, so both agree on one vocabulary: which fields each resource may be
filtered on, and which operations each field takes. A filter outside that vocabulary is
an error, never ignored: a "kill the FAILED executions of namespace X" script must not
act on every execution because `namespace` was misspelled.
"""

from __future__ import annotations

import enum

import msgspec


class Op(enum.StrEnum):
    """Kestra's `QueryFilter.Op`, spelled as its API spells them."""

    EQUALS = "EQUALS"
    NOT_EQUALS = "NOT_EQUALS"
    IN = "IN"
    NOT_IN = "NOT_IN"
    CONTAINS = "CONTAINS"
    STARTS_WITH = "STARTS_WITH"
    ENDS_WITH = "ENDS_WITH"
    REGEX = "REGEX"
    PREFIX = "PREFIX"  # the value itself, or anything below it (`a.b` matches `a.b.c`)
    GREATER_THAN = "GREATER_THAN"
    GREATER_THAN_OR_EQUAL_TO = "GREATER_THAN_OR_EQUAL_TO"
    LESS_THAN = "LESS_THAN"
    LESS_THAN_OR_EQUAL_TO = "LESS_THAN_OR_EQUAL_TO"


class Resource(enum.StrEnum):
    FLOW = "FLOW"
    EXECUTION = "EXECUTION"
    LOG = "LOG"
    TRIGGER = "TRIGGER"
    KV_METADATA = "KV_METADATA"
    NAMESPACE = "NAMESPACE"
    NAMESPACE_FILE_METADATA = "NAMESPACE_FILE_METADATA"


_STRINGS = frozenset(
    {
        Op.EQUALS,
        Op.NOT_EQUALS,
        Op.IN,
        Op.NOT_IN,
        Op.CONTAINS,
        Op.STARTS_WITH,
        Op.ENDS_WITH,
        Op.REGEX,
        Op.PREFIX,
    }
)
_IDS = frozenset(
    {Op.EQUALS, Op.NOT_EQUALS, Op.CONTAINS, Op.STARTS_WITH, Op.ENDS_WITH, Op.IN, Op.NOT_IN}
)
_ENUMS = frozenset({Op.EQUALS, Op.NOT_EQUALS, Op.IN, Op.NOT_IN})
_DATES = frozenset(
    {
        Op.EQUALS,
        Op.NOT_EQUALS,
        Op.GREATER_THAN,
        Op.GREATER_THAN_OR_EQUAL_TO,
        Op.LESS_THAN,
        Op.LESS_THAN_OR_EQUAL_TO,
    }
)
_EXACT = frozenset({Op.EQUALS, Op.NOT_EQUALS})

# Which operations each field takes (Kestra's `QueryFilter.Field` → supported ops).
FIELD_OPS: dict[str, frozenset[Op]] = {
    "namespace": _STRINGS,
    "flowId": _STRINGS,
    "id": _IDS,
    "triggerId": _IDS,
    "executionId": _IDS,
    "taskId": _IDS,
    "taskRunId": _IDS,
    "triggerExecutionId": _IDS,
    "workerId": _IDS,
    "state": _ENUMS,
    "kind": _ENUMS,
    "parentId": _ENUMS,
    "attemptNumber": _ENUMS,
    "labels": frozenset({Op.EQUALS, Op.NOT_EQUALS, Op.IN, Op.NOT_IN, Op.CONTAINS}),
    "startDate": _DATES,
    "endDate": _DATES,
    "updated": _DATES,
    "expirationDate": _DATES,
    "lastTriggeredDate": _DATES,
    "nextExecutionDate": _DATES,
    "q": _EXACT,
    "childFilter": _EXACT,
    "triggerState": _EXACT,
    "version": _EXACT,
    "scope": _ENUMS,
    "timeRange": frozenset({Op.EQUALS}),
    "level": frozenset({Op.GREATER_THAN_OR_EQUAL_TO, Op.LESS_THAN_OR_EQUAL_TO}),
    "path": frozenset({Op.EQUALS, Op.NOT_EQUALS, Op.IN}),
    "parentPath": frozenset({Op.EQUALS, Op.NOT_EQUALS, Op.STARTS_WITH}),
    "source": frozenset({Op.EQUALS}),
    "locked": frozenset({Op.EQUALS}),
}

# Which fields each resource may be filtered on (Kestra's `QueryFilter.Resource`).
RESOURCE_FIELDS: dict[Resource, frozenset[str]] = {
    Resource.FLOW: frozenset({"labels", "namespace", "q", "scope", "flowId"}),
    Resource.EXECUTION: frozenset(
        {
            "q",
            "scope",
            "flowId",
            "startDate",
            "endDate",
            "state",
            "labels",
            "triggerExecutionId",
            "childFilter",
            "namespace",
            "kind",
            "parentId",
            "timeRange",
        }
    ),
    Resource.LOG: frozenset(
        {
            "q",
            "scope",
            "namespace",
            "startDate",
            "endDate",
            "flowId",
            "triggerId",
            "level",
            "executionId",
            "taskId",
            "taskRunId",
            "attemptNumber",
            "kind",
            "timeRange",
        }
    ),
    Resource.TRIGGER: frozenset(
        {
            "q",
            "scope",
            "namespace",
            "workerId",
            "flowId",
            "triggerId",
            "triggerState",
            "source",
            "locked",
            "lastTriggeredDate",
            "nextExecutionDate",
        }
    ),
    Resource.KV_METADATA: frozenset({"q", "namespace", "updated", "expirationDate"}),
    Resource.NAMESPACE: frozenset({"namespace", "q"}),
    Resource.NAMESPACE_FILE_METADATA: frozenset(
        {"q", "namespace", "path", "parentPath", "version", "updated"}
    ),
}

FilterValue = str | list[str] | dict[str, str]


class Filter(msgspec.Struct, frozen=True, kw_only=True):
    """One condition: `field` `op` `value`. `value` is a list for IN/NOT_IN and a
    key → value map for `labels`."""

    field: str
    op: Op
    value: FilterValue


class FilterGroup(msgspec.Struct, frozen=True, kw_only=True):
    """An OR of its members, each member an AND of its filters (`filters[or][i]…`)."""

    members: list[list[Filter]]


class Query(msgspec.Struct, frozen=True, kw_only=True):
    """Every filter and group of a request, all ANDed together."""

    filters: list[Filter] = msgspec.field(default_factory=list)
    groups: list[FilterGroup] = msgspec.field(default_factory=list)

    def empty(self) -> bool:
        return not (self.filters or self.groups)

    def all_filters(self) -> list[Filter]:
        """Every filter, groups included (to check what a store can answer)."""
        out = list(self.filters)
        for group in self.groups:
            for member in group.members:
                out.extend(member)
        return out

    def equals(self, field: str) -> str | None:
        """The value of a top-level `field EQUALS value` filter, if there is exactly one."""
        found = [f for f in self.filters if f.field == field and f.op == Op.EQUALS]
        if len(found) == 1 and isinstance(found[0].value, str):
            return found[0].value
        return None
