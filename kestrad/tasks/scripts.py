"""Kestra's script tasks (`scripts.shell.*`, `scripts.python.*`) on the local machine.

This is Kestra's `Process` task runner: the command line is the interpreter plus one
argument joining `beforeCommands` and the commands with newlines, run in a working
directory of its own (`{{ workingDir }}`, under `tasks.work_path`) by the configured task
runner (`tasks/runner.py`: a process, bubblewrap, or a systemd scope). Output lines are logged as they come, and lines
of the form `::{"outputs": {...}}::` feed the task's `vars` output, as in Kestra.
Containers are not supported: a Docker `taskRunner` is refused when the flow is loaded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections import deque
from pathlib import Path
from typing import Any, ClassVar

import anyio
import msgspec

from kestrad.storage import StorageError
from kestrad.tasks.base import RunnableTask, TaskFailed, TaskOutcome
from kestrad.tasks.context import RunContext
from kestrad.tasks.namespace_tasks import copy_namespace_files
from kestrad.tasks.process import CommandNotFound, describe_signal, run_command
from kestrad.tasks.props import Bool, Map, TextList
from kestrad.tasks.registry import register
from kestrad.tasks.runner import RunFolder, TaskRunner, interpreter_paths
from kestrad.tasks.runner import current as current_runner
from kestrad.tasks.script_files import (
    input_file_map,
    match_output_files,
    output_globs,
    upload_output_files,
    write_input_files,
)

DEFAULT_INTERPRETER = ["/bin/sh", "-c"]
# The Python used by `scripts.python.*`; None: `$KESTRAD_PYTHON`, else python3/python on PATH.
PYTHON_INTERPRETER: str | None = None
# How many of the last stderr lines a failure message repeats.
STDERR_TAIL = 10
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash", "busybox"})
_OUTPUT_LINE = re.compile(r"^::(\{.*\})::$")
_PLUGIN = "io.kestra.plugin.scripts."
# The folder holding `kestra.py`, the helper Kestra's Python scripts import.
PYTHON_HELPERS = str(Path(__file__).resolve().parent / "pylib")


class ScriptLines:
    """Consumes output lines: logs them, counts them, and parses `::{…}::` lines."""

    def __init__(self, logger: Any) -> None:
        self.logger = logger
        self.vars: dict[str, Any] = {}
        # (name, "counter" | "timer", value, tags) of each metric line.
        self.metrics: list[tuple[str, str, float, dict[str, Any]]] = []
        self.stdout = 0
        self.stderr = 0
        self.last_errors: deque[str] = deque(maxlen=STDERR_TAIL)

    def __call__(self, line: str, is_stderr: bool) -> None:
        if is_stderr:
            self.stderr += 1
        else:
            self.stdout += 1
        if line.startswith("::") and self._parse(line.strip()):
            return
        if is_stderr:
            self.last_errors.append(line)
            self.logger.log("ERROR", line)
        else:
            self.logger.log("INFO", line)

    def _parse(self, line: str) -> bool:
        """Apply a `::{"outputs":…, "metrics":…, "logs":…}::` line; False if it is not one."""
        match = _OUTPUT_LINE.match(line)
        if match is None:
            return False
        try:
            data = json.loads(match.group(1))
        except json.JSONDecodeError:
            return False
        if not isinstance(data, dict):
            return False
        outputs = data.get("outputs")
        if isinstance(outputs, dict):
            self.vars.update(outputs)
        metrics = data.get("metrics")
        if isinstance(metrics, list):
            for entry in metrics:
                metric = _metric(entry)
                if metric is None:
                    self.logger.log("WARN", f"ignored a malformed metric: {json.dumps(entry)}")
                else:
                    self.metrics.append(metric)
        logs = data.get("logs")
        if isinstance(logs, list):
            for entry in logs:
                if isinstance(entry, dict) and "message" in entry:
                    self.logger.log(str(entry.get("level") or "INFO"), str(entry["message"]))
        return True


def _metric(entry: Any) -> tuple[str, str, float, dict[str, Any]] | None:
    """A `{"name", "type": counter|timer, "value", "tags"}` entry, or None if malformed."""
    if not isinstance(entry, dict):
        return None
    name, kind, value = entry.get("name"), entry.get("type"), entry.get("value")
    tags = entry.get("tags") or {}
    if not isinstance(name, str) or not name or kind not in ("counter", "timer"):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not isinstance(tags, dict):
        return None
    return name, kind, float(value), tags


class _Script(RunnableTask, kw_only=True):
    """Properties and behaviour shared by every script task (Kestra's AbstractExecScript)."""

    before_commands: TextList | None = None
    env: Map | None = None
    interpreter: TextList | None = None
    fail_fast: Bool = True
    warning_on_std_err: Bool = True
    input_files: Map | None = None
    output_files: TextList | None = None
    namespace_files: Map | None = None
    container_image: str | None = None
    task_runner: dict[str, Any] | None = None
    runner: str | None = None
    docker: dict[str, Any] | None = None
    target_os: str | None = msgspec.field(default=None, name="targetOS")

    uses_python: ClassVar[bool] = False

    async def _copy_namespace_files(
        self, ctx: RunContext, settings: Any, namespace: str, workdir: Path
    ) -> None:
        """Kestra's `namespaceFiles`: the files of the flow's namespace (or of each of
        `namespaces`), filtered by `include`/`exclude` globs, copied into the working
        directory before the commands run."""
        settings = settings if isinstance(settings, dict) else {}
        include = _string_list(settings.get("include"), "namespaceFiles.include") or []
        exclude = _string_list(settings.get("exclude"), "namespaceFiles.exclude") or []
        namespaces = _string_list(settings.get("namespaces"), "namespaceFiles.namespaces")
        count = 0
        for name in namespaces or [namespace]:
            try:
                count += await anyio.to_thread.run_sync(
                    copy_namespace_files, ctx.storage, name, workdir, include, exclude
                )
            except StorageError as exc:
                raise TaskFailed(f"`namespaceFiles`: {exc}") from None
        ctx.logger.log("DEBUG", f"{count} namespace file(s) copied into the working directory")

    def main_commands(self, ctx: RunContext, private: Path) -> list[str]:
        """The commands to run after `beforeCommands` (rendered)."""
        raise NotImplementedError

    async def run(self, ctx: RunContext) -> Any:
        self._refuse_containers()
        runner = current_runner()
        execution_id = str((ctx.variables.get("execution") or {}).get("id") or "no-execution")
        folder = runner.new_run_folder(execution_id)
        workdir = Path(ctx.working_directory) if ctx.working_directory else folder.work
        try:
            return await self._run_in(
                ctx.with_variables({"workingDir": str(workdir)}), runner, folder, workdir
            )
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(runner.remove, folder)

    async def _run_in(
        self, ctx: RunContext, runner: TaskRunner, folder: RunFolder, workdir: Path
    ) -> Any:
        private = folder.private
        namespace = ctx.variables.get("flow", {}).get("namespace", "")
        namespace_files = ctx.render_typed(self.namespace_files)
        if _enabled(namespace_files):
            await self._copy_namespace_files(ctx, namespace_files, namespace, workdir)
        files = input_file_map(ctx.render_typed(self.input_files))
        await write_input_files(workdir, files, ctx.storage, namespace)

        env = runner.environment(os.environ)
        extra_ro: list[str] = []
        if self.uses_python:
            extra_ro += interpreter_paths(_python_shims(private, env), None)
            _python_helpers(env)
            extra_ro.append(PYTHON_HELPERS)
        extra_env = ctx.render_typed(self.env) or {}
        if not isinstance(extra_env, dict):
            raise TaskFailed("`env` must be a map of variable name to value")
        for key, value in extra_env.items():
            env[str(key)] = _env_text(value)

        interpreter = _string_list(ctx.render_typed(self.interpreter), "interpreter")
        interpreter = interpreter or DEFAULT_INTERPRETER
        script_lines: list[str] = []
        if _bool(ctx.render_typed(self.fail_fast), "failFast") and _is_shell(interpreter[0]):
            script_lines.append("set -e")
        script_lines.extend(_string_list(ctx.render_typed(self.before_commands), "beforeCommands"))
        script_lines.extend(self.main_commands(ctx, private))
        argv = [*interpreter, "\n".join(script_lines)]
        _check_program(argv[0], env)
        extra_ro += interpreter_paths(argv[0], env.get("PATH"))
        runner.hand_over(folder)
        launch = runner.wrap(argv, folder, workdir, extra_ro)

        lines = ScriptLines(ctx.logger)
        try:
            code = await run_command(
                launch.argv, cwd=str(workdir), env=env, on_line=lines, outer=launch.outer
            )
        except CommandNotFound as exc:
            raise TaskFailed(f"interpreter not found: {exc}") from None

        for metric in lines.metrics:
            ctx.metric(*metric)
        uploaded = await upload_output_files(
            match_output_files(workdir, output_globs(ctx.render_typed(self.output_files))),
            ctx.storage,
            ctx.task_run_uri(),
        )
        outputs = {
            "exitCode": code,
            "vars": lines.vars,
            "outputFiles": uploaded,
            "stdOutLineCount": lines.stdout,
            "stdErrLineCount": lines.stderr,
        }
        if code != 0:
            raise TaskFailed(_failure(code, lines), outputs)
        if lines.stderr and _bool(ctx.render_typed(self.warning_on_std_err), "warningOnStdErr"):
            return TaskOutcome(outputs=outputs, state="WARNING")
        return outputs

    def _refuse_containers(self) -> None:
        """Loading already refuses these; a flow stored before that rule still fails clearly."""
        runner_type = self.task_runner.get("type") if isinstance(self.task_runner, dict) else None
        if (runner_type and runner_type.endswith(".Docker")) or self.runner == "DOCKER":
            raise TaskFailed("the Docker task runner is not supported: scripts run as processes")


def _failure(code: int, lines: ScriptLines) -> str:
    reason = (
        f"Command was killed by {describe_signal(code)}"
        if code < 0
        else f"Command failed with exit code {code}"
    )
    if lines.last_errors:
        tail = "\n".join(lines.last_errors)
        return f"{reason}; last lines of stderr:\n{tail}"
    return reason


def _is_shell(program: str) -> bool:
    """`set -e` only means something to a POSIX shell, not to a custom interpreter."""
    return os.path.basename(program) in _SHELLS


def _env_text(value: Any) -> str:
    """An environment value as Kestra writes it: JSON for maps and lists, `true`/`false`."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | dict | list):
        return json.dumps(value)
    return str(value)


def _enabled(value: Any) -> bool:
    """`namespaceFiles: {enabled: true, …}`: a present block is on unless it says otherwise."""
    if isinstance(value, dict):
        return value.get("enabled", True) not in (False, "false")
    return bool(value)


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise TaskFailed(f"`{name}` must be true or false, got `{value}`")


def _string_list(value: Any, name: str) -> list[str]:
    """A list property that may also be written as one string (or an expression of one)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return ["" if v is None else str(v) for v in value]
    raise TaskFailed(f"`{name}` must be a string or a list of strings")


def _check_program(program: str, env: dict[str, str]) -> None:
    """A missing interpreter is the flow's error: say which one, before starting anything."""
    if os.sep in program:
        if not (os.path.isfile(program) and os.access(program, os.X_OK)):
            raise TaskFailed(f"interpreter `{program}` not found or not executable")
    elif shutil.which(program, path=env.get("PATH")) is None:
        raise TaskFailed(f"interpreter `{program}` not found on PATH")


def find_python() -> str | None:
    """The Python for `scripts.python.*`: configured, `$KESTRAD_PYTHON`, or on PATH."""
    configured = PYTHON_INTERPRETER or os.environ.get("KESTRAD_PYTHON")
    if configured:
        return configured if os.sep in configured else shutil.which(configured)
    return shutil.which("python3") or shutil.which("python")


def _python_shims(private: Path, env: dict[str, str]) -> str:
    """Make `python` and `python3` name the found interpreter, whatever PATH holds.

    A shim folder first on PATH (not an absolute path in the command) keeps a virtualenv
    activated by `beforeCommands` in charge of which `python` runs.
    """
    python = find_python()
    if python is None or not os.access(python, os.X_OK):
        raise TaskFailed(
            "no Python interpreter found: looked for python3 and python on PATH "
            "(set KESTRAD_PYTHON to choose one)"
        )
    shims = private / "bin"
    shims.mkdir()
    for name in ("python", "python3"):
        (shims / name).symlink_to(python)
    env["PATH"] = f"{shims}{os.pathsep}{env.get('PATH', os.defpath)}"
    return python


def _python_helpers(env: dict[str, str]) -> None:
    """Put kestrad's `kestra` module (`from kestra import Kestra`) on the script's path."""
    existing = env.get("PYTHONPATH")
    env["PYTHONPATH"] = PYTHON_HELPERS + (os.pathsep + existing if existing else "")


def _commands(ctx: RunContext, value: Any) -> list[str]:
    commands = _string_list(ctx.render_typed(value), "commands")
    if not commands:
        raise TaskFailed("`commands` must not be empty")
    return commands


@register(_PLUGIN + "shell.Commands")
class ShellCommands(_Script, kw_only=True):
    """Runs shell commands."""

    commands: TextList

    async def _copy_namespace_files(
        self, ctx: RunContext, settings: Any, namespace: str, workdir: Path
    ) -> None:
        """Kestra's `namespaceFiles`: the files of the flow's namespace (or of each of
        `namespaces`), filtered by `include`/`exclude` globs, copied into the working
        directory before the commands run."""
        settings = settings if isinstance(settings, dict) else {}
        include = _string_list(settings.get("include"), "namespaceFiles.include") or []
        exclude = _string_list(settings.get("exclude"), "namespaceFiles.exclude") or []
        namespaces = _string_list(settings.get("namespaces"), "namespaceFiles.namespaces")
        count = 0
        for name in namespaces or [namespace]:
            try:
                count += await anyio.to_thread.run_sync(
                    copy_namespace_files, ctx.storage, name, workdir, include, exclude
                )
            except StorageError as exc:
                raise TaskFailed(f"`namespaceFiles`: {exc}") from None
        ctx.logger.log("DEBUG", f"{count} namespace file(s) copied into the working directory")

    def main_commands(self, ctx: RunContext, private: Path) -> list[str]:
        return _commands(ctx, self.commands)


@register(_PLUGIN + "shell.Script")
class ShellScript(_Script, kw_only=True):
    """Runs a multi-line shell script."""

    script: str

    async def _copy_namespace_files(
        self, ctx: RunContext, settings: Any, namespace: str, workdir: Path
    ) -> None:
        """Kestra's `namespaceFiles`: the files of the flow's namespace (or of each of
        `namespaces`), filtered by `include`/`exclude` globs, copied into the working
        directory before the commands run."""
        settings = settings if isinstance(settings, dict) else {}
        include = _string_list(settings.get("include"), "namespaceFiles.include") or []
        exclude = _string_list(settings.get("exclude"), "namespaceFiles.exclude") or []
        namespaces = _string_list(settings.get("namespaces"), "namespaceFiles.namespaces")
        count = 0
        for name in namespaces or [namespace]:
            try:
                count += await anyio.to_thread.run_sync(
                    copy_namespace_files, ctx.storage, name, workdir, include, exclude
                )
            except StorageError as exc:
                raise TaskFailed(f"`namespaceFiles`: {exc}") from None
        ctx.logger.log("DEBUG", f"{count} namespace file(s) copied into the working directory")

    def main_commands(self, ctx: RunContext, private: Path) -> list[str]:
        return [str(ctx.render(self.script))]


@register(_PLUGIN + "python.Commands")
class PythonCommands(_Script, kw_only=True):
    """Runs shell commands with `python` available (e.g. `python main.py`)."""

    commands: TextList
    uses_python: ClassVar[bool] = True

    async def _copy_namespace_files(
        self, ctx: RunContext, settings: Any, namespace: str, workdir: Path
    ) -> None:
        """Kestra's `namespaceFiles`: the files of the flow's namespace (or of each of
        `namespaces`), filtered by `include`/`exclude` globs, copied into the working
        directory before the commands run."""
        settings = settings if isinstance(settings, dict) else {}
        include = _string_list(settings.get("include"), "namespaceFiles.include") or []
        exclude = _string_list(settings.get("exclude"), "namespaceFiles.exclude") or []
        namespaces = _string_list(settings.get("namespaces"), "namespaceFiles.namespaces")
        count = 0
        for name in namespaces or [namespace]:
            try:
                count += await anyio.to_thread.run_sync(
                    copy_namespace_files, ctx.storage, name, workdir, include, exclude
                )
            except StorageError as exc:
                raise TaskFailed(f"`namespaceFiles`: {exc}") from None
        ctx.logger.log("DEBUG", f"{count} namespace file(s) copied into the working directory")

    def main_commands(self, ctx: RunContext, private: Path) -> list[str]:
        return _commands(ctx, self.commands)


@register(_PLUGIN + "python.Script")
class PythonScript(_Script, kw_only=True):
    """Runs an inline Python script, written to a file and run with `python`."""

    script: str
    uses_python: ClassVar[bool] = True

    async def _copy_namespace_files(
        self, ctx: RunContext, settings: Any, namespace: str, workdir: Path
    ) -> None:
        """Kestra's `namespaceFiles`: the files of the flow's namespace (or of each of
        `namespaces`), filtered by `include`/`exclude` globs, copied into the working
        directory before the commands run."""
        settings = settings if isinstance(settings, dict) else {}
        include = _string_list(settings.get("include"), "namespaceFiles.include") or []
        exclude = _string_list(settings.get("exclude"), "namespaceFiles.exclude") or []
        namespaces = _string_list(settings.get("namespaces"), "namespaceFiles.namespaces")
        count = 0
        for name in namespaces or [namespace]:
            try:
                count += await anyio.to_thread.run_sync(
                    copy_namespace_files, ctx.storage, name, workdir, include, exclude
                )
            except StorageError as exc:
                raise TaskFailed(f"`namespaceFiles`: {exc}") from None
        ctx.logger.log("DEBUG", f"{count} namespace file(s) copied into the working directory")

    def main_commands(self, ctx: RunContext, private: Path) -> list[str]:
        path = private / "script.py"
        path.write_text(str(ctx.render(self.script)), encoding="utf-8")
        return [f"python '{path}'"]
