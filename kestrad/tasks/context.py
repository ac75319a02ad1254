"""What a runnable task sees while it runs: rendered properties and a logger, nothing else."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from typing import Any

from kestrad.expr.engine import Renderer
from kestrad.model.execution import Metric
from kestrad.model.state import now_iso
from kestrad.storage import default_storage, task_run_uri_from
from kestrad.tasks import props
from kestrad.tasks.services import TaskServices

LEVELS = {"TRACE": 0, "DEBUG": 1, "INFO": 2, "WARN": 3, "WARNING": 3, "ERROR": 4}
SECRET_MASK = "******"


def secret_values(environ: Mapping[str, str]) -> list[str]:
    """Decoded values of every `SECRET_*` variable, longest first, for masking logs."""
    import base64
    import binascii

    values: list[str] = []
    for name, raw in environ.items():
        if not name.startswith("SECRET_"):
            continue
        try:
            decoded = base64.b64decode(raw).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            continue
        if len(decoded) >= 3:
            values.append(decoded)
    return sorted(values, key=len, reverse=True)


@functools.cache
def current_secret_values() -> list[str]:
    """`secret_values` of the process environment, read once (see refresh_environment)."""
    return secret_values(os.environ)


def mask(message: str, secrets: list[str]) -> str:
    """Replace every secret value in a log line, as Kestra does, so logs never leak them."""
    for secret in secrets:
        if secret in message:
            message = message.replace(secret, SECRET_MASK)
    return message


class TaskLogger:
    """Task log lines, timestamped and handed to a sink; `logLevel` filters them."""

    def __init__(
        self,
        sink: Callable[[str, str, str], None],
        min_level: str | None,
        secrets: list[str] | None = None,
    ) -> None:
        self._sink = sink
        self._min = LEVELS.get((min_level or "TRACE").upper(), 0)
        self._secrets = secrets or []
        self.lines = 0

    @property
    def secrets(self) -> list[str]:
        """The values this logger masks (children of a WorkingDirectory mask the same)."""
        return self._secrets

    def log(self, level: str, message: Any) -> None:
        level = "WARN" if level.upper() == "WARNING" else level.upper()
        if LEVELS.get(level, 2) < self._min:
            return
        self.lines += 1
        text = message if isinstance(message, str) else str(message)
        if self._secrets:
            text = mask(text, self._secrets)
        self._sink(level, text, now_iso())

    def info(self, message: Any) -> None:
        self.log("INFO", message)

    def warn(self, message: Any) -> None:
        self.log("WARN", message)

    def error(self, message: Any) -> None:
        self.log("ERROR", message)


class RunContext:
    """Rendering and logging for one attempt of one task run."""

    def __init__(
        self,
        renderer: Renderer,
        variables: Mapping[str, Any],
        logger: TaskLogger,
        *,
        attempt: int,
        storage: Any = None,
        working_directory: str | None = None,
        services: TaskServices | None = None,
        metrics: list[Metric] | None = None,
    ) -> None:
        self.renderer = renderer
        self.variables = variables
        self.logger = logger
        self.attempt = attempt
        # Internal storage (kestrad.storage.LocalStorage); None means the process default.
        self._storage = storage
        # A folder shared by several tasks (WorkingDirectory); None: each script gets its own.
        self.working_directory = working_directory
        # The daemon's services (tasks.services.TaskServices); None outside an engine.
        self._services = services
        # Counters and timers this attempt reported; kept on the attempt once it ends.
        self.metrics: list[Metric] = metrics if metrics is not None else []

    @property
    def storage(self) -> Any:
        """The internal storage this task writes its files to."""
        if self._storage is None:
            self._storage = default_storage()
        return self._storage

    @property
    def services(self) -> Any:
        """KV, log, execution and trigger operations (tasks.services.TaskServices)."""
        if self._services is None:
            raise RuntimeError(
                "this task needs the daemon's services (KV store, logs, executions), "
                "which are only available when it runs inside an engine"
            )
        return self._services

    def task_run_uri(self) -> Any:
        """`kestra:///<ns>/<flow>/executions/<exec>/tasks/<task>/<taskRun>`, for output files."""

        return task_run_uri_from(self.variables)

    def with_variables(self, extra: Mapping[str, Any]) -> RunContext:
        """The same context seeing more variables (e.g. a script's `workingDir`)."""
        child = RunContext(
            self.renderer,
            {**self.variables, **extra},
            self.logger,
            attempt=self.attempt,
            storage=self._storage,
            working_directory=self.working_directory,
            services=self._services,
            metrics=self.metrics,
        )
        return child

    def metric(
        self, name: str, kind: str, value: float, tags: Mapping[str, Any] | None = None
    ) -> None:
        """Record a counter (`kind="counter"`) or a timer in seconds (`"timer"`)."""
        self.metrics.append(
            Metric(
                name=name,
                type=kind,
                value=float(value),
                tags={str(k): str(v) for k, v in (tags or {}).items()},
                timestamp=now_iso(),
            )
        )

    def render(self, value: Any) -> Any:
        """Strings rendered to strings, maps and lists recursively (Kestra's `render`)."""
        return self.renderer.render_value(value, self.variables)

    def render_typed(self, value: Any) -> Any:
        """A value that is one `{{ expression }}` keeps its type (Kestra's typed Property)."""
        return self.renderer.render_value_typed(value, self.variables)

    def render_as(self, kind: props.Kind, value: Any, name: str) -> Any:
        """A typed property rendered and converted to `kind` (None stays None); a value of
        the wrong kind raises PropertyError naming `name`."""
        if value is None:
            return None
        rendered = self.render_typed(value) if isinstance(value, str) else self.render(value)
        return props.convert(kind, rendered, name)

    def duration(self, value: Any, name: str) -> Any:
        """A Duration property as a timedelta (None when absent)."""
        return self.render_as(props.Kind.DURATION, value, name)

    def integer(self, value: Any, name: str) -> Any:
        """An Int property as an int (None when absent)."""
        return self.render_as(props.Kind.INT, value, name)

    def boolean(self, value: Any, name: str) -> bool:
        """A Bool property as a bool (absent is False)."""
        return bool(self.render_as(props.Kind.BOOL, value, name))

    def text_list(self, value: Any, name: str) -> list[str]:
        """A TextList property as a list of strings (absent is empty)."""
        if value is None:
            return []
        rendered = self.render_typed(value) if isinstance(value, str) else self.render(value)
        return props.text_list(rendered, name)

    def mapping(self, value: Any, name: str) -> dict[str, Any]:
        """A Map property as a dict (absent is empty)."""
        return self.render_as(props.Kind.MAP, value, name) or {}
