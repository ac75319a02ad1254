"""What an operator reads at the end of `kestrad run` and in `kestrad executions get`:
the state, why it failed, the flow outputs, and one line per task run.

A failed execution used to end on one `FAILED ns/flow id` line; the reason (a missing
subflow, a task's error) was somewhere in the log above, or nowhere when the executor
itself refused the flow. The summary repeats the ERROR lines of the execution, so the
last screen says what went wrong.
"""

from __future__ import annotations

import json
from typing import TextIO

from kestrad.cli.tables import print_table
from kestrad.model.execution import Execution, TaskRun
from kestrad.model.records import LogEntry
from kestrad.store.base import Store

# ERROR lines repeated under "failed because" (the first ones: the cause comes first).
MAX_ERROR_LINES = 10


def print_summary(execution: Execution, errors: list[LogEntry], out: TextIO) -> None:
    """Header, task runs, outputs and (when it did not succeed) the error lines."""
    state = execution.state
    print(
        f"{state.current} {execution.namespace}/{execution.flow_id} {execution.id} "
        f"({format_seconds(state.duration_seconds())})",
        file=out,
    )
    if execution.task_run_list:
        rows = [_task_run_row(run) for run in execution.task_run_list]
        print_table(("task", "value", "state", "duration", "attempts"), rows, out)
    if execution.outputs:
        print(f"outputs: {json.dumps(execution.outputs, default=str)}", file=out)
    if state.current not in ("SUCCESS", "RUNNING", "CREATED") and errors:
        print("failed because:" if state.current == "FAILED" else "errors:", file=out)
        for entry in errors[:MAX_ERROR_LINES]:
            print(f"  {entry.task_id or '-'}: {entry.message}", file=out)
        if len(errors) > MAX_ERROR_LINES:
            print(f"  … and {len(errors) - MAX_ERROR_LINES} more ERROR lines", file=out)
    out.flush()


async def error_lines(store: Store, execution_id: str) -> list[LogEntry]:
    """The execution's ERROR lines, oldest first (the cause comes first)."""
    return await store.search_logs(execution_id=execution_id, levels=["ERROR"], limit=1000)


def _task_run_row(run: TaskRun) -> tuple[str, str | None, str, str, int]:
    value = run.value
    if run.iteration is not None:
        value = f"{value or ''}#{run.iteration}"
    return (
        run.task_id,
        value,
        run.state.current,
        format_seconds(run.state.duration_seconds()),
        len(run.attempts),
    )


def format_seconds(seconds: float) -> str:
    """`0.012 s`, `4.2 s`, `3 min 12 s`, `2 h 05 min`: short and unambiguous."""
    if seconds < 1:
        return f"{seconds:.3f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
