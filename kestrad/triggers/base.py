"""Properties every Kestra trigger shares (KESTRA-SPEC §3).

Trigger classes are strict msgspec Structs, like tasks, so a misspelled property is an
error at load time rather than a silently ignored key. They only declare the schema; what
a trigger does (its checks, its fire times, its steps) is its kind's (`triggers/kind.py`),
which lives in the same module as its class.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import msgspec

State = Literal[
    "CREATED",
    "SUBMITTED",
    "RUNNING",
    "PAUSED",
    "RESTARTED",
    "KILLING",
    "SUCCESS",
    "WARNING",
    "FAILED",
    "KILLED",
    "CANCELLED",
    "QUEUED",
    "RETRYING",
    "RETRIED",
    "SKIPPED",
]

LogLevel = Literal["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]


class Trigger(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """Common trigger properties; `conditions` stay mappings with a validated `type`."""

    id: str
    type: str
    description: str | None = None
    conditions: list[dict[str, Any]] | None = None
    disabled: bool = False
    labels: dict[str, str] | None = None
    stop_after: list[State] | None = None
    log_level: LogLevel | None = None
    log_to_file: bool = False
    worker_group: dict[str, Any] | None = None
    inputs: dict[str, Any] | None = None

    # The type name the registry knows this class by (set when its kind registers).
    type_name: ClassVar[str] = ""
