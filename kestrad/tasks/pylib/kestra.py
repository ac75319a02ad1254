"""`from kestra import Kestra` inside kestrad's Python script tasks.

Kestra's Python scripts talk to their task through stdout lines of the form
`::{"outputs": {...}}::`, `::{"metrics": [...]}::` and `::{"logs": [...]}::`; Kestra's
`kestra` package writes them. This module gives the same calls (`Kestra.outputs`,
`Kestra.counter`, `Kestra.timer`, `Kestra.logger`, `Kestra.format`, and `Kestra.read` for
items files, which are JSON lines here) with the standard library only, so a flow written
for Kestra runs here without installing anything: the task puts this folder on the
script's `PYTHONPATH`.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any


class Kestra:
    """Outputs, metrics and logs for the task running this script."""

    _logger: logging.Logger | None = None

    @staticmethod
    def format(map_: dict[str, Any]) -> str:
        """`::<json>::`, one line (line separators JSON allows inside strings are escaped)."""
        text = json.dumps(map_, default=str)
        for char in ("\u0085", "\u2028", "\u2029"):
            text = text.replace(char, f"\\u{ord(char):04x}")
        return "::" + text + "::"

    @staticmethod
    def _send(map_: dict[str, Any]) -> None:
        print(Kestra.format(map_), flush=True)

    @staticmethod
    def _metrics(name: str, type_: str, value: float, tags: dict[str, Any] | None) -> None:
        metric = {"name": name, "type": type_, "value": value, "tags": tags or {}}
        Kestra._send({"metrics": [metric]})

    @staticmethod
    def outputs(map_: dict[str, Any]) -> None:
        """Make `map_` the task's outputs (`outputs.<task>.vars.<key>`)."""
        Kestra._send({"outputs": map_})

    @staticmethod
    def counter(name: str, value: float, tags: dict[str, Any] | None = None) -> None:
        """Add `value` to the counter `name`."""
        Kestra._metrics(name, "counter", value, tags)

    @staticmethod
    def timer(
        name: str, duration: float | Callable[[], Any], tags: dict[str, Any] | None = None
    ) -> None:
        """Record a duration in seconds, or time a call of `duration` when it is callable."""
        if callable(duration):
            start = time.perf_counter()
            duration()
            duration = time.perf_counter() - start
        Kestra._metrics(name, "timer", duration, tags)

    @staticmethod
    def read(path_: str) -> list[Any]:
        """The items of an items file (kestrad writes JSON lines where Kestra writes ION:
        `FilterItems`, `log.Fetch`, …), one value per non-blank line."""
        with open(path_, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]

    @staticmethod
    def logger() -> logging.Logger:
        """A logger whose lines become the task's log lines at their level."""
        if Kestra._logger is not None:
            return Kestra._logger
        logger = logging.getLogger("Kestra")
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        out = logging.StreamHandler(sys.stdout)
        out.setLevel(logging.DEBUG)
        out.addFilter(lambda record: record.levelno <= logging.INFO)
        out.setFormatter(_JsonFormatter())
        err = logging.StreamHandler(sys.stderr)
        err.setLevel(logging.WARNING)
        err.setFormatter(_JsonFormatter())
        logger.addHandler(out)
        logger.addHandler(err)
        Kestra._logger = logger
        return logger


def _level(levelno: int) -> str:
    if levelno >= logging.ERROR:
        return "ERROR"
    if levelno >= logging.WARNING:
        return "WARN"
    if levelno >= logging.INFO:
        return "INFO"
    if levelno >= logging.DEBUG:
        return "DEBUG"
    return "TRACE"


class _JsonFormatter(logging.Formatter):
    """A record as a `::{"logs": [{level, message}]}::` line."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = (
            datetime.fromtimestamp(record.created, timezone.utc)  # noqa: UP017 (Python < 3.11)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )
        message = f"{stamp} - {record.getMessage()}"
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        return Kestra.format({"logs": [{"level": _level(record.levelno), "message": message}]})
