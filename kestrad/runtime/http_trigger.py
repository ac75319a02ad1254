"""`io.kestra.plugin.core.http.Trigger`: poll a URL, fire when the response satisfies
`responseCondition` (default `{{ response.statusCode < 400 }}`).

The created execution's trigger variables are `{uri, code, headers, body}`, as Kestra's.
A response that cannot be fetched is a failed evaluation (logged), not an execution.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from kestrad.expr.engine import truthy
from kestrad.model.durations import parse_duration
from kestrad.runtime.polling import PollContext, register_poller
from kestrad.triggers.polling import HttpTrigger

_MAX_BODY = 10 * 1024 * 1024  # the body travels into the execution: keep it bounded


@register_poller(HttpTrigger)
async def evaluate_http(trigger: HttpTrigger, ctx: PollContext) -> dict[str, Any] | None:
    uri = str(ctx.render(trigger.uri)).strip()
    method = str(ctx.render(trigger.method) or "GET").upper()
    headers = {str(k): str(v) for k, v in (ctx.render(trigger.headers or {}) or {}).items()}
    content: bytes | None = None
    if trigger.body is not None:
        body = ctx.render_typed(trigger.body)
        if isinstance(body, dict | list):
            content = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        elif body is not None:
            content = str(body).encode()
    if trigger.content_type:
        headers["Content-Type"] = str(ctx.render(trigger.content_type))
    options = dict(trigger.options or {})
    async with httpx.AsyncClient(
        timeout=_timeout(options, ctx.timeout),
        follow_redirects=options.get("followRedirects", True) is not False,
    ) as client:
        response = await client.request(method, uri, headers=headers, content=content)
    text = response.content[:_MAX_BODY].decode(response.encoding or "utf-8", errors="replace")
    response_headers: dict[str, list[str]] = {}
    for name, value in response.headers.multi_items():
        response_headers.setdefault(name, []).append(value)
    seen = {"statusCode": response.status_code, "body": text, "headers": response_headers}
    if not truthy(ctx.render_typed(trigger.response_condition, {"response": seen})):
        return None
    return {"uri": uri, "code": response.status_code, "headers": response_headers, "body": text}


def _timeout(options: dict[str, Any], ceiling: float) -> httpx.Timeout:
    def seconds(value: Any, default: float) -> float:
        if value is None:
            return default
        return parse_duration(str(value)).total_seconds()

    connect = min(seconds(options.get("connectTimeout"), 10.0), ceiling)
    read = min(seconds(options.get("readTimeout"), 10.0), ceiling)
    return httpx.Timeout(connect=connect, read=read, write=read, pool=connect)
