"""Polling triggers: `io.kestra.plugin.core.http.Trigger` checks a URL every `interval`.

The evaluation itself lives in `kestrad.runtime.polling` (the framework) and
`kestrad.runtime.http_trigger` (the HTTP check); these classes only declare the schema.
"""

from __future__ import annotations

from typing import Any

from kestrad.triggers.base import Trigger
from kestrad.triggers.registry import register_trigger


class PollingTrigger(Trigger, kw_only=True):
    """A trigger the scheduler has evaluated every `interval`, away from its tick (a poll
    may take seconds); an evaluation that finds something creates one execution."""

    interval: str = "PT60S"


@register_trigger("io.kestra.plugin.core.http.Trigger", "io.kestra.plugin.fs.http.Trigger")
class HttpTrigger(PollingTrigger, kw_only=True):
    """Fires when the response to `uri` satisfies `responseCondition`."""

    uri: str
    method: str = "GET"
    response_condition: str = "{{ response.statusCode < 400 }}"
    body: Any = None
    form_data: dict[str, Any] | None = None
    content_type: str | None = None
    headers: dict[str, Any] | None = None
    options: dict[str, Any] | None = None
    ssl_options: dict[str, Any] | None = None
    encrypt_body: bool = False
