"""The executions list: filters, keyset pages, live states, counts per state as a chart."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from kestrad.model.state import ALL_STATES, TERMINATED, iso_from_epoch
from kestrad.runtime.engine import Engine
from kestrad.ui import charts
from kestrad.ui.queries import BadFilter, ExecutionFilters, search
from kestrad.ui.render import page, seconds_between

DEFAULT_CHART_RANGE = 7 * 86_400.0
# States the counts chart shows, in the order Kestra's UI shows them.
CHART_STATES = (
    "CREATED", "QUEUED", "RUNNING", "PAUSED", "SUCCESS", "WARNING", "FAILED", "KILLED",
    "CANCELLED",
)  # fmt: skip


async def list_page(engine: Engine, request: Request) -> Response:
    """The whole page; its table body refreshes itself (`rows`) every second."""
    return await _render(engine, request, "executions.html")


async def rows(engine: Engine, request: Request) -> Response:
    return await _render(engine, request, "executions_rows.html")


async def _render(engine: Engine, request: Request, template: str) -> Response:
    try:
        filters = ExecutionFilters.parse(request.query_params)
    except BadFilter as exc:
        filters = ExecutionFilters()
        return page(
            request, template, 400, error=str(exc), filters=filters, result=None, **_common()
        )
    try:
        result = await search(engine.store, filters)
    except BadFilter as exc:
        return page(
            request, template, 400, error=str(exc), filters=filters, result=None, **_common()
        )
    live = any(e.state.current not in TERMINATED for e in result.rows)
    return page(
        request,
        template,
        filters=filters,
        result=result,
        live=live,
        durations={
            e.id: seconds_between(e.state.start_date, e.state.end_date) for e in result.rows
        },
        error=None,
        **_common(),
    )


def _common() -> dict[str, object]:
    return {"all_states": ALL_STATES}


async def counts(engine: Engine, request: Request) -> Response:
    """Executions per state in the chosen range (the last 7 days when none is chosen):
    one covering-index count per state, whatever the table's size."""
    try:
        filters = ExecutionFilters.parse(request.query_params)
    except BadFilter as exc:
        return page(request, "error_fragment.html", 400, error=str(exc))
    start = filters.start or iso_from_epoch(time.time() - DEFAULT_CHART_RANGE)
    totals = await engine.store.count_executions_by_state(
        list(filters.states or CHART_STATES),
        start=start,
        end=filters.end or None,
        namespace=filters.namespace or None,
        flow_id=filters.flow_id or None,
        below=True,
    )
    since = "" if filters.start else "the last 7 days"
    return page(request, "counts_chart.html", chart=charts.state_bars(totals), since=since)
