"""Shared helpers for the benchmark scripts: statistics, tables, results files, flows.

Every script records what it measured together with the machine it ran on, because a
latency figure without its hardware is not comparable with anything (Kestra's published
figures come from a 4-vCPU machine with a separate 4-vCPU PostgreSQL).
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"


def flows_dir() -> Path:
    """The benchmark flows: `KESTRAD_BENCH_FLOWS`, else `../shared/bench-flows`."""
    return Path(
        os.environ.get("KESTRAD_BENCH_FLOWS") or REPO_ROOT.parent / "shared" / "bench-flows"
    )


def flow_ref(source: str) -> tuple[str, str]:
    """(namespace, id) of a flow's YAML source, read without deploying it."""
    from ruamel.yaml import YAML

    document = YAML(typ="safe").load(source)
    return str(document["namespace"]), str(document["id"])


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear-interpolated percentile (`fraction` in [0, 1]), like numpy's default."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(latencies: Sequence[float], wall: float) -> dict[str, float]:
    """The figures every table shows: rate, p50, p99, max (seconds; rate per second)."""
    return {
        "count": len(latencies),
        "rate": len(latencies) / wall if wall > 0 else math.nan,
        "p50": percentile(latencies, 0.50),
        "p99": percentile(latencies, 0.99),
        "max": max(latencies) if latencies else math.nan,
        "mean": sum(latencies) / len(latencies) if latencies else math.nan,
    }


def ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.1f} ms"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table, columns padded so it also reads well in a terminal."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


def machine_info() -> dict[str, Any]:
    """What the numbers depend on: CPU, OS, Python, and the code revision if known."""
    cpu = platform.processor() or platform.machine()
    try:
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                cpu = row.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "revision": _git_revision(),
    }


def _git_revision() -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def state_duration(execution: dict[str, Any]) -> float | None:
    """Seconds from the first to the last state change, as Kestra measures latency."""
    histories = (execution.get("state") or {}).get("histories") or []
    if len(histories) < 2:
        return None
    try:
        first, last = (_instant(histories[i]["date"]) for i in (0, -1))
    except (KeyError, TypeError, ValueError):
        return None
    return (last - first).total_seconds()


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def write_results(name: str, data: dict[str, Any]) -> Path:
    """Write `bench/results/<name>.json` with a timestamp and the machine info."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    document = {
        "benchmark": name,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        **data,
    }
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path
