"""`io.kestra.plugin.core.trigger.Webhook`: an HTTP endpoint that starts executions.

Only its schema and load-time checks live here; the endpoint is the API's
(`api/webhooks.py`), and the scheduler never fires it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from kestrad.triggers.base import Trigger
from kestrad.triggers.conditions import MULTIPLE_CONDITION
from kestrad.triggers.kind import BaseKind, Problem
from kestrad.triggers.registry import register_kind

WEBHOOK_KEY_MAX = 256


class Webhook(Trigger, kw_only=True):
    """`/executions/webhook/{namespace}/{flowId}/{key}` starts an execution."""

    key: str
    wait: bool = False
    return_outputs: bool = False
    response_content_type: str | None = None


class WebhookKind(BaseKind):
    type_name: ClassVar[str] = "io.kestra.plugin.core.trigger.Webhook"
    aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.models.triggers.types.Webhook",)
    schema: ClassVar[type[Trigger]] = Webhook

    def validate(self, raw: Mapping[str, Any]) -> list[Problem]:
        problems: list[Problem] = []
        key = raw.get("key")
        if isinstance(key, str) and len(key) > WEBHOOK_KEY_MAX:
            problems.append(
                (("key",), f"a webhook key must be at most {WEBHOOK_KEY_MAX} characters")
            )
        for i, condition in enumerate(raw.get("conditions") or ()):
            if isinstance(condition, dict) and condition.get("type") == MULTIPLE_CONDITION:
                problems.append(
                    (("conditions", i), "a Webhook trigger cannot use a MultipleCondition")
                )
        return problems


WEBHOOK = register_kind(WebhookKind())
