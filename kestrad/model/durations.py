"""ISO-8601 durations (`PT5M`, `P1DT2H`, `PT0.5S`) as Kestra and Java's `Duration.parse` read them."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import lru_cache

_DURATION = re.compile(
    r"^(?P<sign>[-+]?)P(?:(?P<days>[-+]?\d+)D)?"
    r"(?:T(?:(?P<hours>[-+]?\d+)H)?(?:(?P<minutes>[-+]?\d+)M)?"
    r"(?:(?P<seconds>[-+]?\d+(?:[.,]\d+)?)S)?)?$",
    re.IGNORECASE,
)


class DurationError(ValueError):
    """A string that is not an ISO-8601 duration."""


@lru_cache(maxsize=1024)
def parse_duration(text: str) -> timedelta:
    """Parse `PnDTnHnMn.nS`; raises DurationError naming the text otherwise."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if match is None or text.strip().upper() in {"P", "PT"} or text.strip().upper().endswith("T"):
        raise DurationError(f"`{text}` is not an ISO-8601 duration (e.g. PT5M, PT0.5S, P1D)")
    parts = match.groupdict()
    value = timedelta(
        days=int(parts["days"] or 0),
        hours=int(parts["hours"] or 0),
        minutes=int(parts["minutes"] or 0),
        seconds=float((parts["seconds"] or "0").replace(",", ".")),
    )
    return -value if parts["sign"] == "-" else value


def format_duration(value: timedelta) -> str:
    """Java `Duration.toString()` style: `PT0.123S`, `PT1M30S`, `PT2H`."""
    total = value.total_seconds()
    sign = "-" if total < 0 else ""
    total = abs(total)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    out = "PT"
    if hours:
        out += f"{int(hours)}H"
    if minutes:
        out += f"{int(minutes)}M"
    if seconds or out == "PT":
        text = f"{seconds:.9f}".rstrip("0").rstrip(".")
        out += f"{text}S"
    return sign + out
