"""Flows: the list (last execution, next trigger date) and a flow's page (source with line
numbers and problems, read-only for folder flows, an editor validated as you type for
flows created through the API; topology; the Execute form built from its inputs)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kestrad.flows.loader import load_flow
from kestrad.flows.problems import FlowLoadError, Problem
from kestrad.runtime.engine import Engine
from kestrad.ui import charts
from kestrad.ui.render import page

FLOW_TABS = ("source", "topology", "execute")
FLOWS_PAGE = 100  # flows a page lists

# The widget of each input type in the Execute form.
WIDGETS = {
    "STRING": "text", "EMAIL": "email", "URI": "url", "SECRET": "password",
    "INT": "number", "FLOAT": "number", "BOOLEAN": "boolean", "BOOL": "boolean",
    "DATE": "date", "DATETIME": "datetime-local", "TIME": "time", "DURATION": "text",
    "SELECT": "select", "ENUM": "select", "MULTISELECT": "multiselect", "FILE": "file",
    "JSON": "textarea", "YAML": "textarea", "ARRAY": "textarea",
}  # fmt: skip

NEW_FLOW = """id: hello
namespace: company.team
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: Hello from kestrad
"""


async def list_page(engine: Engine, request: Request) -> Response:
    wanted = (request.query_params.get("namespace") or "").strip()
    rows = sorted(
        (
            r
            for r in engine.flows.rows()
            if not r.deleted
            and (not wanted or r.namespace == wanted or r.namespace.startswith(wanted + "."))
        ),
        key=lambda r: (r.namespace, r.id),
    )
    triggers = await engine.store.list_triggers(namespace=None, limit=10_000)
    next_fire: dict[tuple[str, str], float] = {}
    for trigger in triggers:
        if trigger.disabled:
            continue
        key = (trigger.namespace, trigger.flow_id)
        next_fire[key] = min(next_fire.get(key, trigger.next_fire_at), trigger.next_fire_at)
    try:
        number = max(int(request.query_params.get("page") or 1), 1)
    except ValueError:
        number = 1
    total = len(rows)
    rows = rows[(number - 1) * FLOWS_PAGE : number * FLOWS_PAGE]
    last = await engine.store.latest_executions_of_flows([(r.namespace, r.id) for r in rows])
    broken = await engine.file_problems.current()
    # Folder files that fail to load and serve no flow (they never loaded): their own
    # section, as no row can carry their marker.
    served = {r.file for r in engine.flows.rows() if r.file and not r.deleted}
    orphans = sorted((path, problems) for path, problems in broken.items() if path not in served)
    return page(
        request,
        "flows.html",
        rows=rows,
        total=total,
        number=number,
        pages=max((total + FLOWS_PAGE - 1) // FLOWS_PAGE, 1),
        namespace=wanted,
        next_fire=next_fire,
        last=last,
        broken=broken,
        orphans=orphans if not wanted else [],
    )


async def flow_page(engine: Engine, request: Request) -> Response:
    namespace, flow_id = request.path_params["namespace"], request.path_params["flow_id"]
    row = engine.flows.latest_row(namespace, flow_id) or await engine.store.get_flow(
        namespace, flow_id
    )
    if row is None or row.deleted:
        return page(
            request,
            "error.html",
            404,
            title="Flow not found",
            error=f"No flow {namespace}.{flow_id}",
        )
    tab = request.query_params.get("tab", "source")
    if tab not in FLOW_TABS:
        tab = "source"
    problems: list[Problem] = []
    flow = None
    try:
        flow = load_flow(row.source, file=row.file, strict=False)
    except FlowLoadError as exc:
        problems = exc.problems
    # A folder file that fails to load now: the flow still runs `row` (its last good
    # revision), and the panel says why the file's current content is not it.
    file_problems = (await engine.file_problems.current()).get(row.file, []) if row.file else []
    context: dict[str, Any] = {
        "row": row,
        "flow": flow,
        "problems": problems,
        "file_problems": file_problems,
        "tab": tab,
        "lines": row.source.count("\n") + 1,
        "widgets": WIDGETS,
    }
    if tab == "topology" and flow is not None:
        context["topology"] = charts.topology(flow)
    if tab == "source":
        context["triggers"] = await engine.store.list_triggers(namespace=namespace, flow_id=flow_id)
    return page(request, "flow.html", **context)


async def new_flow(engine: Engine, request: Request) -> Response:
    return page(request, "flow_new.html", source=NEW_FLOW)
