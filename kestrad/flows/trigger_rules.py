"""Checks particular to one trigger type, run at load time on the trigger's raw mapping.

Each trigger kind knows its own (`TriggerKind.validate`: a cron has the right shape, a
timezone exists, durations parse, a webhook key fits); this module only reports them at
their place in the flow. Evaluation belongs to the scheduler.
"""

from __future__ import annotations

from typing import Any

from kestrad.flows.problems import PathKey
from kestrad.flows.report import Report
from kestrad.triggers.registry import kind_named


def check_trigger(report: Report, type_name: str, raw: dict[str, Any], path: PathKey) -> None:
    """Report what the kind of `type_name` finds wrong in `raw`."""
    kind = kind_named(type_name)
    if kind is None:
        return
    for where, message in kind.validate(raw):
        report.add((*path, *where), message)
