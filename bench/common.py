"""Shared helpers for the benchmark scripts: statistics, tables, results files, flows.

Every script records what it measured together with the machine it ran on, because a
latency figure without its hardware is not comparable with anything (Kestra's published
figures come from a 4-vCPU machine with a separate 4-vCPU PostgreSQL).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import platform
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
# `KESTRAD_BENCH_RESULTS` elsewhere: a smoke run (tests/bench) leaves the figures alone.
RESULTS_DIR = Path(os.environ.get("KESTRAD_BENCH_RESULTS") or BENCH_DIR / "results")
# `--database-url postgres`: a fresh database on this server, dropped afterwards.
POSTGRES_SERVER = os.environ.get("KESTRAD_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


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


def loadavg() -> list[float] | None:
    """1, 5 and 15-minute load averages (None where the OS has none)."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


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
        # The machine may be shared: its load when the results were written.
        "loadavg": loadavg(),
        **data,
    }
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path


# -- databases and daemons ------------------------------------------------------------------
def backend_of(url: str | None) -> str:
    """`postgresql` or `sqlite` (no url: the scripts' temporary SQLite file)."""
    postgres = url == "postgres" or (url or "").startswith(("postgres:", "postgresql:"))
    return "postgresql" if postgres else "sqlite"


@contextlib.asynccontextmanager
async def database(url: str | None) -> AsyncIterator[str | None]:
    """`url` as given, except `postgres`: a fresh database on `POSTGRES_SERVER`, dropped
    on exit (`WITH (FORCE)`: connections a killed daemon left are cut)."""
    if url != "postgres":
        yield url
        return
    import asyncpg

    name = f"kestrad_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(f"{POSTGRES_SERVER}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"{POSTGRES_SERVER}/{name}"
    finally:
        for attempt in range(30):  # the server may be restarting: retry for 30 s
            try:
                admin = await asyncpg.connect(f"{POSTGRES_SERVER}/postgres")
                try:
                    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                finally:
                    await admin.close()
                break
            except (OSError, asyncpg.PostgresError):
                if attempt == 29:
                    print(f"could not drop the database {name}", file=sys.stderr)
                await asyncio.sleep(1.0)


async def postgres_backends(url: str) -> tuple[list[int], str]:
    """Pids of the server processes connected to `url`'s database (other than this query),
    and the server's start time: a change means it restarted in between (a shared server
    may be restarted by someone else's tests), which the figures must say."""
    import asyncpg

    for attempt in range(30):  # the server may be restarting: retry for 30 s
        try:
            conn = await asyncpg.connect(url)
            break
        except (OSError, asyncpg.PostgresError):
            if attempt == 29:
                raise
            await asyncio.sleep(1.0)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        started = await conn.fetchval("SELECT pg_postmaster_start_time()::text")
    finally:
        await conn.close()
    return [row["pid"] for row in rows], started


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat fields 14 and 15);
    0 for a process that is gone or not visible."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """`cpu_seconds` of a process and every process below it (`kestrad serve --processes
    N` and the processes it started), read from /proc/<pid>/task/*/children."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        total += cpu_seconds(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                pending += [int(child) for child in task.read_text().split()]
            except OSError:
                continue
    return total


def start_serve(
    workdir: Path,
    database_url: str,
    *,
    port: int | None = None,
    roles: str | None = None,
    processes: int = 1,
    flow_files: Sequence[Path] = (),
    synchronous: str = "FULL",
    storage: Path | None = None,
) -> subprocess.Popen:
    """`kestrad serve` in a subprocess, with its own config, flows folder and log in
    `workdir` (created). `port` None: no HTTP (`roles` should then leave out webserver)."""
    workdir.mkdir(parents=True, exist_ok=True)
    flows = workdir / "flows"
    flows.mkdir(exist_ok=True)
    for file in flow_files:
        (flows / file.name).write_bytes(file.read_bytes())
    config = f"database:\n  url: {database_url}\n  synchronous: {synchronous}\n"
    config += f"flows:\n  path: {flows}\n"
    config += f"server:\n  host: 127.0.0.1\n  port: {port or 0}\n  processes: {processes}\n"
    if storage is not None:
        config += f"storage:\n  path: {storage}\n"
    config += "logging:\n  level: WARNING\n"
    (workdir / "kestrad.yml").write_text(config)
    command = [sys.executable, "-m", "kestrad", "serve", "--config", str(workdir / "kestrad.yml")]
    if roles:
        command += ["--roles", roles]
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
    log = (workdir / "daemon.log").open("wb")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)


def stop_process(process: subprocess.Popen, timeout: float = 30, *, signal: bool = True) -> None:
    """SIGTERM (unless already sent: `signal` False), then SIGKILL after `timeout` seconds.
    (A second SIGTERM makes `kestrad serve` stop at once, without its drain.)"""
    if signal and process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
