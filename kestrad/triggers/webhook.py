"""`io.kestra.plugin.core.trigger.Webhook`: an HTTP endpoint that starts executions."""

from __future__ import annotations

from kestrad.triggers.base import Trigger
from kestrad.triggers.registry import register_trigger

WEBHOOK_KEY_MAX = 256


@register_trigger(
    "io.kestra.plugin.core.trigger.Webhook",
    "io.kestra.core.models.triggers.types.Webhook",
)
class Webhook(Trigger, kw_only=True):
    """`/executions/webhook/{namespace}/{flowId}/{key}` starts an execution."""

    key: str
    wait: bool = False
    return_outputs: bool = False
    response_content_type: str | None = None
