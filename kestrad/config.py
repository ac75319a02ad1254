"""The one configuration file, `kestrad.yml`, as msgspec Structs with a default for every key.

Any key can be overridden by an environment variable `KESTRAD_<SECTION>__<KEY>` (the value
is read as YAML, so `8`, `true` and `[a, b]` keep their types). An unknown key or a wrong
type stops the start with the key's name.
"""

from __future__ import annotations

import os
import pwd
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from kestrad.model.durations import DurationError, parse_duration

DEFAULT_CONFIG_PATH = "/etc/kestrad/kestrad.yml"


# Every role a daemon can take; `kestrad serve` runs all of them unless told otherwise.
ROLES = ("executor", "worker", "scheduler", "webserver")


def parse_roles(text: str) -> tuple[str, ...]:
    """`worker, executor` → ("executor", "worker") in canonical order; ValueError names an
    unknown role or an empty list."""
    wanted = {part.strip().lower() for part in text.split(",") if part.strip()}
    unknown = sorted(wanted - set(ROLES))
    if unknown:
        raise ValueError(f"unknown role(s) {', '.join(unknown)}; choose from {', '.join(ROLES)}")
    if not wanted:
        raise ValueError(f"no role given; choose from {', '.join(ROLES)}")
    return tuple(role for role in ROLES if role in wanted)


class _Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class DatabaseConfig(_Section, kw_only=True):
    url: str = "sqlite:///var/lib/kestrad/kestrad.db"
    # SQLite only: FULL survives power loss; NORMAL may lose the last commits.
    synchronous: str = "FULL"
    # `kestrad serve` waits this long for an unreachable database at start (PostgreSQL
    # booting after kestrad) before it stops with a one-line error.
    startup_wait: str = "PT1M"
    # PostgreSQL: no statement of kestrad's runs this long (PT0S: no limit).
    statement_timeout: str = "PT1M"
    # PostgreSQL: a session idle this long inside a transaction (its daemon frozen) is
    # ended by the server, so its row locks stall nobody.
    idle_in_transaction_timeout: str = "PT10S"


class FlowsConfig(_Section, kw_only=True):
    path: str = "/var/lib/kestrad/flows"
    watch: bool = True
    # A full rescan of the folder at this interval heals events the OS never delivered
    # (NFS, some bind mounts); None turns it off.
    rescan_interval: str | None = "PT1M"
    # Poll the folder instead of inotify: for file systems that deliver no events.
    force_polling: bool = False
    # A flow file larger than this (bytes) is refused, with its name, instead of loaded.
    max_file_size: int = 1024 * 1024


class BasicAuthConfig(_Section, kw_only=True):
    username: str | None = None
    password: str | None = None


class ServerConfig(_Section, kw_only=True):
    host: str = "127.0.0.1"
    port: int = 8080
    basic_auth: BasicAuthConfig = msgspec.field(default_factory=BasicAuthConfig)
    termination_grace: str = "PT5M"
    # What this daemon runs: any of executor, worker, scheduler, webserver (comma-separated).
    roles: str = ",".join(ROLES)
    # A client must send a request's whole header within this (slow clients are cut off).
    header_timeout: str = "PT10S"
    # An idle keep-alive connection is closed after this.
    keep_alive_timeout: str = "PT5S"
    # Open connections (SSE followers included) beyond this are answered 503.
    max_connections: int = 1000
    # The web UI at /ui/ (same port and basic auth as the API); false serves the API only.
    ui: bool = True
    # Processes sharing the port and the database (one GIL each): 0 = one per CPU. The
    # first watches the flows folder and holds the scheduler; the others run the rest.
    processes: int = 1


class WorkerConfig(_Section, kw_only=True):
    # Tasks in flight at once. In-process tasks mostly wait on I/O, so the bound is large;
    # processes (scripts) have their own, the machine's: `processes`.
    concurrency: int = 0  # 0 = 1000
    processes: int = 0  # 0 = 2 x CPU count: scripts running at once
    # A job whose worker died under it this many times (kill -9, a crash, a lost machine)
    # fails its task run instead of being handed out again: a poison job kills one daemon
    # a few times, not every daemon forever.
    max_deliveries: int = 3


class TasksConfig(_Section, kw_only=True):
    # Where script tasks get their working directories, and the process ledger lives
    # (see tasks/runner.py, tasks/process_ledger.py). None: `work` beside the storage.
    work_path: str | None = None
    # How script commands start: a plain process, in a bubblewrap sandbox, or in a
    # transient systemd scope (see tasks/runner.py and the README's "Isolation").
    runner: Literal["process", "bwrap", "systemd-run"] = "process"
    # Run commands as this user (needs a daemon running as root); None: the daemon's.
    user: str | None = None


class QueueConfig(_Section, kw_only=True):
    batch_size: int = 100
    min_poll_interval: str = "PT0.005S"
    max_poll_interval: str = "PT0.5S"


class LivenessConfig(_Section, kw_only=True):
    heartbeat_interval: str = "PT3S"
    timeout: str = "PT45S"
    # Rows of stopped or disconnected instances are kept this long for `instances list`.
    purge_after: str = "P1D"


class RetentionConfig(_Section, kw_only=True):
    executions: str | None = None  # e.g. P30D; None keeps everything
    logs: str | None = None
    interval: str = "PT1H"  # how often the retention pass runs


class LoggingConfig(_Section, kw_only=True):
    level: str = "INFO"


class VariablesConfig(_Section, kw_only=True):
    globals: dict[str, Any] = msgspec.field(default_factory=dict)
    secret_key: str | None = None


class SchedulerConfig(_Section, kw_only=True):
    tick: str = "PT1S"  # the evaluation loop's period
    monitor_interval: str = "PT10S"  # the monitoring loop's period (a separate loop)
    # Default of `recoverMissedSchedules` for triggers that do not set it (Kestra ships ALL).
    recover_missed_schedules: Literal["ALL", "LAST", "NONE"] = "ALL"
    # An execution created by a trigger and still CREATED after this is reported.
    not_started_after: str = "PT1M"
    # Several daemons may run the scheduler role; the one holding this lease fires. A
    # standby takes over when the leader has not renewed it for this long (a clean stop
    # hands it over at once). Shorter: faster take-over after a crash, more renewals.
    lease: str = "PT15S"


class StorageConfig(_Section, kw_only=True):
    # Internal storage (`kestra:///…` files). None: `storage/` beside the SQLite database.
    path: str | None = None


class Config(_Section, kw_only=True):
    database: DatabaseConfig = msgspec.field(default_factory=DatabaseConfig)
    flows: FlowsConfig = msgspec.field(default_factory=FlowsConfig)
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    worker: WorkerConfig = msgspec.field(default_factory=WorkerConfig)
    tasks: TasksConfig = msgspec.field(default_factory=TasksConfig)
    queue: QueueConfig = msgspec.field(default_factory=QueueConfig)
    liveness: LivenessConfig = msgspec.field(default_factory=LivenessConfig)
    retention: RetentionConfig = msgspec.field(default_factory=RetentionConfig)
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
    variables: VariablesConfig = msgspec.field(default_factory=VariablesConfig)
    storage: StorageConfig = msgspec.field(default_factory=StorageConfig)
    scheduler: SchedulerConfig = msgspec.field(default_factory=SchedulerConfig)

    def worker_concurrency(self) -> int:
        return self.worker.concurrency or 1000

    def worker_processes(self) -> int:
        return self.worker.processes or 2 * (os.cpu_count() or 1)

    def storage_path(self, database_url: str | None = None) -> str:
        """`storage.path`, else a `storage` folder beside the SQLite database file."""
        if self.storage.path:
            return self.storage.path
        url = database_url or self.database.url
        if url.startswith("sqlite:"):
            return str(Path(path_from_url(url)).resolve().parent / "storage")
        return "/var/lib/kestrad/storage"

    def work_path(self, database_url: str | None = None) -> str:
        """`tasks.work_path`, else a `work` folder beside the storage folder."""
        if self.tasks.work_path:
            return self.tasks.work_path
        return str(Path(self.storage_path(database_url)).parent / "work")


def path_from_url(url: str) -> str:
    """`sqlite:///abs/path.db` or `sqlite://relative.db` → a file path."""
    if not url.startswith("sqlite:"):
        raise ValueError(f"not a SQLite url: {url}")
    rest = url[len("sqlite:") :]
    if rest.startswith("///"):
        return "/" + rest[3:].lstrip("/") if rest[3:].startswith("/") else "/" + rest[3:]
    return rest.lstrip("/") if rest.startswith("//") else rest


class ConfigError(Exception):
    """A configuration file or override that cannot be used; the message names the key."""


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL")
_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


CONFIG_ENV = "KESTRAD_CONFIG"
LOCAL_CONFIG_PATH = "kestrad.yml"


def default_config_path(
    explicit: str | None, environ: Mapping[str, str] | None = None
) -> str | None:
    """The configuration every command uses, found the same way every time: `--config
    FILE`, else `$KESTRAD_CONFIG`, else `./kestrad.yml`, else `/etc/kestrad/kestrad.yml`,
    each when given (or existing); None: the defaults.

    Why one order for all: `kestrad logs -f` in a second shell must read the database the
    daemon writes, without the operator repeating `--config`.
    """
    if explicit is not None:
        return explicit
    named = (os.environ if environ is None else environ).get(CONFIG_ENV)
    if named:
        return named
    for candidate in (LOCAL_CONFIG_PATH, DEFAULT_CONFIG_PATH):
        if Path(candidate).is_file():
            return candidate
    return None


def _yaml_value(text: str) -> Any:
    try:
        return YAML(typ="safe").load(text)
    except YAMLError:
        return text


def _apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """Merge overrides into `data`; returns dotted key → variable name, for error messages."""
    sources: dict[str, str] = {}
    for name, raw in environ.items():
        if not name.startswith("KESTRAD_") or "__" not in name:
            continue
        path = [part.lower() for part in name[len("KESTRAD_") :].split("__")]
        node = data
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[path[-1]] = _yaml_value(raw)
        sources[".".join(path)] = name
    return sources


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read `path` (missing default file → defaults), apply env overrides, validate."""
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    if path is not None:
        file = Path(path)
        if not file.exists():
            raise ConfigError(f"{file}: no such configuration file")
        try:
            loaded = YAML(typ="safe").load(file.read_text())
        except OSError as exc:
            raise ConfigError(f"{file}: cannot read: {exc.strerror or exc}") from exc
        except YAMLError as exc:
            raise ConfigError(f"{file}: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{file}: the configuration must be a mapping")
        data = loaded or {}
    sources = _apply_env(data, environ)
    where = f"{path}: " if path else ""
    try:
        config = msgspec.convert(data, Config)
    except msgspec.ValidationError as exc:
        key, problem = _friendly(str(exc))
        raise ConfigError(f"{where}{_origin(key, sources)}: {problem}") from exc
    problems = _semantic_problems(config)
    if problems:
        key, problem = problems[0]
        raise ConfigError(f"{where}{_origin(key, sources)}: {problem}")
    if path is not None:
        _anchor_paths(config, Path(path).resolve().parent, sources)
    return config


def _anchor_paths(config: Config, base: Path, sources: Mapping[str, str]) -> None:
    """Relative paths written in a configuration file are relative to that file's folder,
    whatever the directory a command runs in: `kestrad logs -f` in a second shell opens
    the database the daemon writes. Values from `KESTRAD_*` variables keep the working
    directory as their base, like any path given on a command line."""

    def anchored(key: str, value: str) -> str:
        if key in sources or Path(value).is_absolute():
            return value
        return os.path.normpath(base / value)

    url = config.database.url
    if url.startswith("sqlite:") and not path_from_url(url).startswith("/"):
        config.database.url = "sqlite:///" + anchored("database.url", path_from_url(url))
    config.flows.path = anchored("flows.path", config.flows.path)
    if config.storage.path:
        config.storage.path = anchored("storage.path", config.storage.path)
    if config.tasks.work_path:
        config.tasks.work_path = anchored("tasks.work_path", config.tasks.work_path)


_UNKNOWN = re.compile(r"^Object contains unknown field `([^`]*)`(?: - at `\$\.?([^`]*)`)?$")
_AT = re.compile(r"^(.*) - at `\$\.?([^`]*)`$")


def _friendly(message: str) -> tuple[str, str]:
    """msgspec's message → (dotted key, what is wrong with it)."""
    unknown = _UNKNOWN.match(message)
    if unknown:
        field, parent = unknown.group(1), unknown.group(2)
        return (f"{parent}.{field}" if parent else field), "unknown key"
    located = _AT.match(message)
    if located:
        problem = located.group(1)
        return located.group(2) or "(top level)", problem[:1].lower() + problem[1:]
    return "(top level)", message


def _origin(key: str, sources: Mapping[str, str]) -> str:
    """`server.port`, plus the environment variable that set it when one did."""
    for dotted, variable in sources.items():
        if key == dotted or key.startswith(dotted + ".") or dotted.startswith(key + "."):
            return f"{key} (from {variable})"
    return key


def _semantic_problems(config: Config) -> list[tuple[str, str]]:
    """Values of the right type that still cannot work: caught at start, not at first use."""

    problems: list[tuple[str, str]] = []
    durations = {
        "server.termination_grace": config.server.termination_grace,
        "server.header_timeout": config.server.header_timeout,
        "server.keep_alive_timeout": config.server.keep_alive_timeout,
        "database.startup_wait": config.database.startup_wait,
        "database.statement_timeout": config.database.statement_timeout,
        "database.idle_in_transaction_timeout": config.database.idle_in_transaction_timeout,
        "queue.min_poll_interval": config.queue.min_poll_interval,
        "queue.max_poll_interval": config.queue.max_poll_interval,
        "liveness.heartbeat_interval": config.liveness.heartbeat_interval,
        "liveness.timeout": config.liveness.timeout,
        "liveness.purge_after": config.liveness.purge_after,
        "retention.executions": config.retention.executions,
        "retention.logs": config.retention.logs,
        "retention.interval": config.retention.interval,
        "scheduler.tick": config.scheduler.tick,
        "scheduler.monitor_interval": config.scheduler.monitor_interval,
        "scheduler.not_started_after": config.scheduler.not_started_after,
        "scheduler.lease": config.scheduler.lease,
        "flows.rescan_interval": config.flows.rescan_interval,
    }
    for key, value in durations.items():
        if value is None:
            continue
        try:
            if parse_duration(value).total_seconds() < 0:
                problems.append((key, f"`{value}` is negative"))
        except DurationError as exc:
            problems.append((key, str(exc)))
    if config.server.max_connections < 1:
        problems.append(("server.max_connections", "must be at least 1"))
    if config.server.processes < 0:
        problems.append(("server.processes", "must be 0 (one per CPU) or more"))
    try:
        parse_roles(config.server.roles)
    except ValueError as exc:
        problems.append(("server.roles", str(exc)))
    if config.logging.level.upper() not in LOG_LEVELS:
        problems.append(("logging.level", f"`{config.logging.level}` is not one of {LOG_LEVELS}"))
    if config.database.synchronous.upper() not in _SYNCHRONOUS:
        problems.append(
            (
                "database.synchronous",
                f"`{config.database.synchronous}` is not one of {_SYNCHRONOUS}",
            )
        )
    if not 0 <= config.server.port <= 65535:
        problems.append(("server.port", f"{config.server.port} is not a TCP port"))
    if config.worker.concurrency < 0:
        problems.append(("worker.concurrency", "must be 0 (automatic) or more"))
    if config.worker.processes < 0:
        problems.append(("worker.processes", "must be 0 (automatic) or more"))
    if config.flows.max_file_size < 1:
        problems.append(("flows.max_file_size", "must be at least 1 (bytes)"))
    if config.worker.max_deliveries < 1:
        problems.append(("worker.max_deliveries", "must be at least 1"))
    if config.tasks.user is not None:
        try:
            pwd.getpwnam(config.tasks.user)
        except KeyError:
            problems.append(("tasks.user", f"no user `{config.tasks.user}` on this machine"))
    return problems


SECRET_KEYS = (("server", "basic_auth", "password"), ("variables", "secret_key"))


def dump_config(config: Config, *, reveal: bool = False) -> str:
    """The effective configuration as YAML (for `kestrad config show`).

    Secrets that are set print as `<hidden>` unless `reveal`: the output gets pasted into
    issues and chats.
    """
    import io

    data = msgspec.to_builtins(config)
    if not reveal:
        for path in SECRET_KEYS:
            node = data
            for part in path[:-1]:
                node = node[part]
            if node.get(path[-1]) is not None:
                node[path[-1]] = "<hidden>"

    buffer = io.StringIO()
    yaml = YAML()
    yaml.default_flow_style = False
    # `null`, not an empty value: the output should read as what it means.
    yaml.representer.add_representer(
        type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    yaml.dump(data, buffer)
    return buffer.getvalue()
