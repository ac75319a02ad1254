"""Templates and the small formatting helpers every page uses."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from kestrad.model.state import TERMINATED, parse_iso

ENV = Environment(
    loader=PackageLoader("kestrad.ui", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not start:
        return None
    stop = parse_iso(end) if end else datetime.now(UTC)
    return max(0.0, (stop - parse_iso(start)).total_seconds())


def duration(seconds: float | None) -> str:
    """`0.25s`, `12.3s`, `4m 05s`, `2h 10m`: short enough for a table cell."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def short_date(text: str | None) -> str:
    """`2026-12-05 06:41:52` (UTC) from Kestra's ISO instants."""
    if not text:
        return ""
    return text[:19].replace("T", " ")


def epoch_date(moment: float | None) -> str:
    if moment is None:
        return ""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S")


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def query(params: dict[str, Any], **changes: Any) -> str:
    """A query string from `params` with `changes` applied (None drops a key)."""
    merged = {**params, **changes}
    pairs: list[tuple[str, str]] = []
    for key, value in merged.items():
        if value is None or value == "" or value == []:
            continue
        if isinstance(value, list | tuple):
            pairs.extend((key, str(v)) for v in value)
        else:
            pairs.append((key, str(value)))
    return urlencode(pairs)


ENV.filters.update(duration=duration, short_date=short_date, epoch_date=epoch_date, to_json=to_json)
ENV.globals.update(query=query, terminated=TERMINATED)


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = ENV.get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=status, headers=NO_STORE)


# Pages show live data: a browser must not show yesterday's copy on Back.
NO_STORE = {"Cache-Control": "no-store"}
