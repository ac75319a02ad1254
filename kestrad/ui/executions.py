"""The executions list: filters, keyset pages, live states, counts per state as a chart."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from kestrad.model.state import ALL_STATES, TERMINATED
from kestrad.runtime.engine import Engine
from kestrad.ui import charts
from kestrad.ui.queries import BadFilter, ExecutionFilters, search
from kestrad.ui.render import page, seconds_between

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
    result = await search(engine.store, filters)
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


def _within(namespace: str, wanted: str) -> bool:
    return namespace == wanted or namespace.startswith(wanted + ".")


def _common() -> dict[str, object]:
    return {"all_states": ALL_STATES}


async def counts(engine: Engine, request: Request) -> Response:
    """Executions per state in the chosen range (one index range count per state)."""
    try:
        filters = ExecutionFilters.parse(request.query_params)
    except BadFilter as exc:
        return page(request, "error_fragment.html", 400, error=str(exc))
    flows = (
        [(filters.namespace, filters.flow_id)] if filters.namespace and filters.flow_id else None
    )
    totals: dict[str, int] = {}
    for state in filters.states or CHART_STATES:
        per_flow = await engine.store.count_executions_by_flow(
            start=filters.start or None,
            end=filters.end or None,
            states=[state],
            flows=flows,
        )
        totals[state] = sum(
            c.count
            for c in per_flow
            if (not filters.flow_id or c.flow_id == filters.flow_id)
            and (not filters.namespace or _within(c.namespace, filters.namespace))
        )
    return page(request, "counts_chart.html", chart=charts.state_bars(totals))
