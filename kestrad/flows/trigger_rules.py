"""Checks particular to one trigger type, run at load time on the trigger's raw mapping.

Only what can be known without running anything: a cron expression has the right shape,
a timezone exists, durations parse, a webhook key fits. Evaluation belongs to the scheduler.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kestrad.flows.problems import PathKey
from kestrad.flows.report import Report
from kestrad.model.durations import DurationError, parse_duration
from kestrad.triggers.conditions import MULTIPLE_CONDITION
from kestrad.triggers.webhook import WEBHOOK_KEY_MAX

_TRIGGER = "io.kestra.plugin.core.trigger."
CRON_NICKNAMES = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*?/,#\-]+$")

Rule = Callable[[Report, dict[str, Any], PathKey], None]


def check_trigger(report: Report, type_name: str, raw: dict[str, Any], path: PathKey) -> None:
    """Run the rules of `type_name`."""
    for rule in _RULES.get(type_name, ()):
        rule(report, raw, path)


def cron_problem(cron: str, *, with_seconds: bool = False) -> str | None:
    """Why `cron` is not a usable cron expression, or None when its shape is right."""
    text = cron.strip()
    if text.lower() in CRON_NICKNAMES:
        return None
    fields = text.split()
    expected = 6 if with_seconds else 5
    if len(fields) != expected:
        extra = " (withSeconds: true)" if with_seconds else ""
        return f"invalid cron expression `{cron}`: expected {expected} fields{extra}, got {len(fields)}"
    for item in fields:
        if not _CRON_FIELD.match(item):
            return f"invalid cron expression `{cron}`: bad field `{item}`"
    return None


def _duration(key: str) -> Rule:
    def rule(report: Report, raw: dict[str, Any], path: PathKey) -> None:
        value = raw.get(key)
        if isinstance(value, str) and "{{" not in value:
            try:
                parse_duration(value)
            except DurationError as exc:
                report.add((*path, key), str(exc))

    return rule


def _schedule(report: Report, raw: dict[str, Any], path: PathKey) -> None:
    cron = raw.get("cron")
    if isinstance(cron, str):
        problem = cron_problem(cron, with_seconds=raw.get("withSeconds") is True)
        if problem:
            report.add((*path, "cron"), problem)


def _timezone(report: Report, raw: dict[str, Any], path: PathKey) -> None:
    zone = raw.get("timezone")
    if isinstance(zone, str):
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            report.add((*path, "timezone"), f"unknown timezone `{zone}`")


def _dates(report: Report, raw: dict[str, Any], path: PathKey) -> None:
    dates = raw.get("dates")
    if not isinstance(dates, list):
        return
    for i, value in enumerate(dates):
        if isinstance(value, str) and "{{" not in value:
            try:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                report.add((*path, "dates", i), f"`{value}` is not an ISO-8601 date-time")


def _webhook(report: Report, raw: dict[str, Any], path: PathKey) -> None:
    key = raw.get("key")
    if isinstance(key, str) and len(key) > WEBHOOK_KEY_MAX:
        report.add((*path, "key"), f"a webhook key must be at most {WEBHOOK_KEY_MAX} characters")
    for i, condition in enumerate(raw.get("conditions") or ()):
        if isinstance(condition, dict) and condition.get("type") == MULTIPLE_CONDITION:
            report.add((*path, "conditions", i), "a Webhook trigger cannot use a MultipleCondition")


_RULES: dict[str, tuple[Rule, ...]] = {
    _TRIGGER + "Schedule": (_schedule, _timezone, _duration("lateMaximumDelay")),
    _TRIGGER + "ScheduleOnDates": (_timezone, _dates),
    _TRIGGER + "Webhook": (_webhook,),
    "io.kestra.plugin.core.http.Trigger": (_duration("interval"),),
}
