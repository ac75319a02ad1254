"""What several commands share: exit codes and the parsing of small arguments."""

from __future__ import annotations

import sys
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_PAUSED, EXIT_TIMEOUT = 0, 1, 2, 3, 4
# Task log levels, lowest first (task logs spell WARNING as WARN).
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR")


def pairs(items: list[str], what: str) -> dict[str, str]:
    """`NAME=VALUE` arguments as a dict; ValueError naming `what` for a malformed one."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"{what} `{item}` must be NAME=VALUE")
        out[name] = value
    return out


def flow_filter(value: str | None) -> tuple[str | None, str | None]:
    """`--flow NAMESPACE/FLOW_ID` as (namespace, flow id); (None, None) when absent."""
    if value is None:
        return None, None
    namespace, _, flow_id = value.rpartition("/")
    if not namespace or not flow_id:
        raise ValueError(f"--flow `{value}` must be NAMESPACE/FLOW_ID")
    return namespace, flow_id


def levels_from(level: str | None) -> list[str] | None:
    """`WARN` → every level at or above it; None when no level was asked."""
    if level is None:
        return None
    name = "WARN" if level.upper() == "WARNING" else level.upper()
    if name not in LOG_LEVELS:
        raise ValueError(f"--level `{level}`: one of {', '.join(LOG_LEVELS)}")
    return list(LOG_LEVELS[LOG_LEVELS.index(name) :])


def error(message: object) -> None:
    """One `error: …` line on stderr."""
    print(f"error: {message}", file=sys.stderr)


def warning_text(problem: Any) -> str:
    """A load notice (`flows.problems.Problem`) as `file:line:col: warning: path: message`."""
    where = f"{problem.file or '<flow>'}:{problem.line}:{problem.column}"
    path = f"{problem.path}: " if problem.path else ""
    return f"{where}: warning: {path}{problem.message}"
