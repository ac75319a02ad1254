"""Finding a flow for a request: memory first (the flow cache), the store on a miss.

The cache holds the latest revision of every flow this daemon knows; another daemon on
the same database may have saved one since, hence the store read when it is absent.
"""

from __future__ import annotations

from typing import Any

from kestrad.api.errors import ApiError
from kestrad.flows.loader import FlowLoadError
from kestrad.runtime.engine import Engine


async def enabled_flow(engine: Engine, namespace: str, flow_id: str) -> Any:
    """The latest revision of an enabled flow; 404 when absent or deleted, 409 when disabled."""
    try:
        row = engine.flows.latest_row(namespace, flow_id)
        if row is None:
            await engine.flows.fetch(namespace, flow_id)
            row = engine.flows.latest_row(namespace, flow_id)
        if row is None or row.deleted:
            raise ApiError(404, "Flow not found", namespace=namespace, flowId=flow_id)
        flow = engine.flows.latest(namespace, flow_id)
    except FlowLoadError as exc:  # saved by an older version with other rules
        raise ApiError(409, f"The stored flow no longer loads: {exc}") from None
    if row.disabled or flow is None or flow.disabled:
        raise ApiError(409, "Flow is disabled", namespace=namespace, flowId=flow_id)
    return flow
