"""Load-time checks several trigger kinds share: a duration parses, a time zone exists.

Each returns the kind's `Problem`s (path below the trigger, message); values that are
expressions (`{{ … }}`) are only known at run time and pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kestrad.model.durations import DurationError, parse_duration
from kestrad.triggers.kind import Problem


def duration_problems(raw: Mapping[str, Any], key: str) -> list[Problem]:
    value = raw.get(key)
    if isinstance(value, str) and "{{" not in value:
        try:
            parse_duration(value)
        except DurationError as exc:
            return [((key,), str(exc))]
    return []


def timezone_problems(raw: Mapping[str, Any]) -> list[Problem]:
    zone = raw.get("timezone")
    if isinstance(zone, str):
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            return [(("timezone",), f"unknown timezone `{zone}`")]
    return []
