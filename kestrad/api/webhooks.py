"""Webhook triggers: `GET|POST|PUT executions/webhook/{namespace}/{id}/{key}` (KESTRA-SPEC §3.3).

The lookup costs the same with ten flows or a hundred thousand: the flow comes from the
flow cache by (namespace, id), and its Webhook triggers' rendered keys are kept per flow
revision, so a request never scans flows and renders a key only once per revision.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from kestrad.api.context import api
from kestrad.api.errors import ApiError
from kestrad.api.executions import invalid_inputs, wait_end
from kestrad.api.lookup import enabled_flow
from kestrad.api.responses import json_response
from kestrad.expr.engine import ExpressionError, Renderer, truthy
from kestrad.model.execution import Execution, ExecutionTrigger, to_kestra_json
from kestrad.model.flow import Flow
from kestrad.model.inputs import InputsInvalid, input_defaults
from kestrad.runtime.variables import base_variables
from kestrad.triggers.execution_conditions import ConditionError, evaluate, short_type
from kestrad.triggers.webhook import Webhook

log = logging.getLogger("kestrad.api.webhooks")


class WebhookIndex:
    """Rendered key → Webhook trigger, for the latest revision of each flow that has one."""

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer
        self._by_flow: dict[tuple[str, str], tuple[int | None, dict[str, Webhook]]] = {}

    def find(self, flow: Flow, key: str) -> Webhook | None:
        return self._keys(flow).get(key)

    def _keys(self, flow: Flow) -> dict[str, Webhook]:
        cached = self._by_flow.get((flow.namespace, flow.id))
        if cached is not None and cached[0] == flow.revision:
            return cached[1]
        keys: dict[str, Webhook] = {}
        for trigger in flow.triggers or ():
            if not isinstance(trigger, Webhook) or trigger.disabled:
                continue
            rendered = self._render_key(flow, trigger)
            if rendered is not None:
                keys.setdefault(rendered, trigger)
        self._by_flow[(flow.namespace, flow.id)] = (flow.revision, keys)
        return keys

    def _render_key(self, flow: Flow, trigger: Webhook) -> str | None:
        context = {
            "flow": {"id": flow.id, "namespace": flow.namespace, "revision": flow.revision},
            "vars": flow.variables or {},
        }
        try:
            return str(self.renderer.render(trigger.key, context)).strip()
        except ExpressionError as exc:
            log.warning(
                "webhook %s/%s.%s: key not rendered: %s", flow.namespace, flow.id, trigger.id, exc
            )
            return None


def parse_body(body: bytes) -> Any:
    """A JSON object, else a JSON array, else the raw text; no body at all is null."""
    if not body:
        return None
    try:
        parsed = msgspec.json.decode(body)
    except msgspec.DecodeError:
        parsed = None
    if isinstance(parsed, dict | list):
        return parsed
    return body.decode("utf-8", errors="replace")


def request_variables(request: Request, body: bytes) -> dict[str, Any]:
    """`trigger.body`, `trigger.headers` (name → values), `trigger.parameters` (name → values).

    Headers are read from the raw list (what `request.headers.items()` decodes, without
    building a Headers object); no query string, no QueryParams to parse."""
    headers: dict[str, list[str]] = {}
    for name, value in request.scope["headers"]:
        headers.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
    parameters: dict[str, list[str]] = {}
    if request.scope.get("query_string"):
        query = request.query_params
        parameters = {name: query.getlist(name) for name in dict.fromkeys(query.keys())}
    return {"body": parse_body(body), "headers": headers, "parameters": parameters}


def conditions_hold(flow: Flow, trigger: Webhook, execution: Execution, renderer: Renderer) -> bool:
    """Every condition of the trigger, evaluated against the execution about to start."""
    variables: dict[str, Any] | None = None
    for condition in trigger.conditions or ():
        if short_type(str(condition.get("type", ""))) == "Expression":
            if variables is None:
                variables = base_variables(execution, flow)
            try:
                value = renderer.render_typed(str(condition.get("expression", "")), variables)
            except ExpressionError as exc:
                raise ApiError(422, f"Webhook condition not evaluated: {exc}") from None
            if not truthy(value):
                return False
            continue
        try:
            if not evaluate(condition, execution, execution.state.current):
                return False
        except ConditionError as exc:
            raise ApiError(422, f"Webhook condition not evaluated: {exc}") from None
    return True


async def webhook(request: Request) -> Response:
    ctx = api(request)
    params = request.path_params
    namespace, flow_id, key = params["namespace"], params["id"], params["key"]
    flow = await enabled_flow(ctx.engine, namespace, flow_id)
    trigger = ctx.webhooks.find(flow, key)
    if trigger is None:
        raise ApiError(404, "Webhook not found", namespace=namespace, flowId=flow_id)
    body = await request.body()
    started_by = ExecutionTrigger(
        id=trigger.id, type=trigger.type, variables=request_variables(request, body)
    )
    if trigger.conditions:
        provisional = Execution.new(
            namespace=namespace,
            flow_id=flow_id,
            flow_revision=flow.revision,
            inputs=input_defaults(flow),
            trigger=started_by,
        )
        if not conditions_hold(flow, trigger, provisional, ctx.engine.renderer):
            return Response(status_code=204)
    try:
        execution = await ctx.engine.build_execution(
            namespace, flow_id, {}, trigger.labels, trigger=started_by, revision=flow.revision
        )
    except InputsInvalid as exc:
        raise invalid_inputs(exc) from None
    await ctx.creations.store(execution)
    ctx.metrics.execution_created(execution)
    if trigger.wait:
        execution = await wait_end(ctx, request, execution)
        if trigger.return_outputs:
            return json_response(execution.outputs)
    return json_response(to_kestra_json(execution))
