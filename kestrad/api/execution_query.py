"""What executions a search or a bulk action by query selects: Kestra's `filters[…]` and the
older plain parameters (`namespace`, `flowId`, `state`, `labels`, `startDate`, …), which
Kestra still accepts and its SDK's `search_executions_by_flow_id` sends.

Both become one `model.query.Query`; the store answers it in SQL. An unknown parameter or
a filter the store cannot answer is a 400 naming it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

from starlette.requests import Request

from kestrad.api.errors import ApiError
from kestrad.api.params import check_params
from kestrad.api.query_filters import parse_filters
from kestrad.model.query import Filter, Op, Query, Resource
from kestrad.store.filters import UnsupportedFilter

# The plain parameters and the filter each one is (Kestra's ExecutionController.searchExecutions
# deprecated parameters): `namespace` covers its sub-namespaces, as in Kestra.
_LEGACY: dict[str, tuple[str, Op]] = {
    "namespace": ("namespace", Op.PREFIX),
    "flowId": ("flowId", Op.EQUALS),
    "q": ("q", Op.EQUALS),
    "startDate": ("startDate", Op.GREATER_THAN_OR_EQUAL_TO),
    "endDate": ("startDate", Op.LESS_THAN_OR_EQUAL_TO),
    "timeRange": ("timeRange", Op.EQUALS),
    "triggerExecutionId": ("triggerExecutionId", Op.EQUALS),
    "childFilter": ("childFilter", Op.EQUALS),
}
LEGACY_PARAMS = frozenset({*_LEGACY, "state", "labels"})
# Kestra's default sort, the one order the keyset pages keep.
SORTS = frozenset({"state.startDate:desc", "startDate:desc"})


def execution_query(request: Request, extra: frozenset[str] = frozenset()) -> Query:
    """The request's filters, plain parameters included; other parameters must be `extra`."""
    check_params(request, LEGACY_PARAMS | extra)
    query = parse_filters(request.query_params.multi_items(), Resource.EXECUTION)
    params = request.query_params
    filters = list(query.filters)
    for name, (field, op) in _LEGACY.items():
        value = params.get(name)
        if value:
            filters.append(Filter(field=field, op=op, value=value))
    states = [s for raw in params.getlist("state") for s in raw.split(",") if s.strip()]
    if states:
        filters.append(Filter(field="state", op=Op.IN, value=[s.strip() for s in states]))
    labels: dict[str, str] = {}
    for raw in params.getlist("labels"):
        key, sep, value = raw.partition(":")
        if not sep or not key:
            raise ApiError(400, f"Invalid label `{raw}` in `labels`: expected key:value")
        labels[key] = value
    if labels:
        filters.append(Filter(field="labels", op=Op.EQUALS, value=labels))
    return Query(filters=filters, groups=query.groups)


def check_sort(request: Request) -> None:
    for sort in request.query_params.getlist("sort"):
        if sort not in SORTS:
            raise ApiError(
                400,
                f"Unsupported `sort={sort}`: executions are listed newest first "
                "(state.startDate:desc)",
            )


@contextlib.asynccontextmanager
async def answered() -> AsyncIterator[None]:
    """A filter the store cannot answer, as the 400 it is."""
    try:
        yield
    except UnsupportedFilter as exc:
        raise ApiError(400, f"Invalid query filters: {exc}") from None


def now() -> float:
    return time.time()
