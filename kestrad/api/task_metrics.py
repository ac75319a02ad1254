"""`GET /api/v1/metrics/{executionId}`: the counters and timers an execution's tasks reported.

Kestra's MetricController answers this route with a page of `MetricEntry` (one per
metric, with the task run it belongs to). The metrics are kept on each task run's
attempts, inside the stored execution, so this reads one execution and flattens them;
`taskId` and `taskRunId` filter, `page`/`size` page as Kestra does.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kestrad.api.context import api
from kestrad.api.errors import ApiError
from kestrad.api.params import check_params, query_int
from kestrad.api.responses import json_response

_PARAMS = frozenset({"page", "size", "sort", "taskId", "taskRunId"})


async def by_execution(request: Request) -> Response:
    check_params(request, _PARAMS)
    execution_id = request.path_params["execution_id"]
    execution = await api(request).engine.get_execution(execution_id)
    if execution is None:
        raise ApiError(404, "Execution not found", executionId=execution_id)
    task_id = request.query_params.get("taskId")
    task_run_id = request.query_params.get("taskRunId")
    page = query_int(request, "page", 1, low=1, high=2**31)
    size = query_int(request, "size", 25, low=1, high=10_000)
    entries: list[dict[str, Any]] = []
    for run in execution.task_run_list:
        if (task_id and run.task_id != task_id) or (task_run_id and run.id != task_run_id):
            continue
        for attempt in run.attempts:
            for metric in attempt.metrics or ():
                entries.append(
                    {
                        "namespace": execution.namespace,
                        "flowId": execution.flow_id,
                        "taskId": run.task_id,
                        "executionId": execution.id,
                        "taskRunId": run.id,
                        "name": metric.name,
                        "type": metric.type,
                        "value": metric.value,
                        "tags": metric.tags,
                        "timestamp": metric.timestamp,
                    }
                )
    start = (page - 1) * size
    return json_response({"results": entries[start : start + size], "total": len(entries)})
