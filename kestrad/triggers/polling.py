"""Polling triggers: `io.kestra.plugin.core.http.Trigger` checks a URL every `interval`."""

from __future__ import annotations

from typing import Any

from kestrad.triggers.base import Trigger
from kestrad.triggers.registry import register_trigger


@register_trigger("io.kestra.plugin.core.http.Trigger", "io.kestra.plugin.fs.http.Trigger")
class HttpTrigger(Trigger, kw_only=True):
    """Fires when the response to `uri` satisfies `responseCondition`."""

    uri: str
    method: str = "GET"
    interval: str = "PT60S"
    response_condition: str = "{{ response.statusCode < 400 }}"
    body: Any = None
    form_data: dict[str, Any] | None = None
    content_type: str | None = None
    headers: dict[str, Any] | None = None
    options: dict[str, Any] | None = None
    ssl_options: dict[str, Any] | None = None
    encrypt_body: bool = False
