"""`kestrad run FLOW`: one execution on the daemon's own engine, its logs live, then a
summary (state, one row per task run, the flow outputs, the ERROR lines that say why it
failed), and its end as the exit status (0 SUCCESS/WARNING, 1 FAILED/KILLED, 2 invalid,
3 paused for a person, 4 still running when `--timeout` ran out).

`-i NAME=@/path/file` uploads a file for a FILE input: it is stored in the execution's
folder of the internal storage first, then the execution is created with its URI."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kestrad.cli.common import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_PAUSED,
    EXIT_TIMEOUT,
    error,
    pairs,
    warning_text,
)
from kestrad.cli.summary import error_lines, print_summary
from kestrad.config import ConfigError, load_config
from kestrad.flows.loader import FlowLoadError, load_warnings
from kestrad.flows.problems import Problem
from kestrad.model.execution import Execution
from kestrad.model.ids import new_id
from kestrad.model.inputs import InputsInvalid
from kestrad.model.records import LogEntry
from kestrad.model.state import TERMINATED
from kestrad.runtime.engine import Engine, FlowNotFound, execution_to_json
from kestrad.storage import StorageError, StorageURI, default_storage, execution_prefix


async def handle(args: argparse.Namespace) -> int:
    try:
        inputs = pairs(args.input, "input")
        labels = pairs(args.label, "label")
        config = load_config(args.config) if args.config else None
    except (ValueError, ConfigError) as exc:
        error(exc)
        return EXIT_INVALID
    out = sys.stderr if args.json else sys.stdout
    async with Engine.open(config=config) as engine:
        if args.flows_dir:
            _warn_skipped(await engine.deploy_directory(args.flows_dir))
        target = Path(args.flow)
        try:
            if target.is_file():
                flow = await engine.deploy_source(target.read_text(), file=str(target))
                for warning in load_warnings(flow):
                    print(warning_text(warning), file=sys.stderr)
                namespace, flow_id = flow.namespace, flow.id
            else:
                namespace, _, flow_id = args.flow.rpartition("/")
                if not namespace:
                    error(f"`{args.flow}` is neither a file nor namespace/flowId")
                    return EXIT_INVALID
        except FlowLoadError as exc:
            for problem in exc.problems:
                print(str(problem), file=sys.stderr)
            return EXIT_INVALID
        execution_id = new_id()
        try:
            inputs = upload_files(inputs, namespace, flow_id, execution_id)
            execution = await engine.create_execution(
                namespace, flow_id, inputs, labels, execution_id=execution_id
            )
        except (FlowNotFound, StorageError, OSError) as exc:
            error(exc)
            return EXIT_INVALID
        except InputsInvalid as exc:
            for problem in exc.errors:
                error(f"input {problem.input_id}: {problem.message}")
            return EXIT_INVALID

        def print_logs(entries: list[LogEntry]) -> None:
            for entry in entries:
                if entry.execution_id == execution.id:
                    task = entry.task_id or "-"
                    print(f"{entry.timestamp} {entry.level:<5} {task} {entry.message}", file=out)
            out.flush()

        unsubscribe = engine.hub.subscribe_logs(print_logs)
        try:
            final = await engine.wait_for(
                execution.id, until=_stops_here, timeout=args.timeout or float("inf")
            )
        except TimeoutError as exc:
            error(f"{exc} (--timeout {args.timeout:g} s); it goes on in the database")
            return EXIT_TIMEOUT
        finally:
            unsubscribe()
        errors = await error_lines(engine.store, final.id)
    if args.json:
        print(json.dumps(execution_to_json(final), indent=2))
    else:
        print_summary(final, errors, out)
    state = final.state.current
    if state in ("SUCCESS", "WARNING"):
        return EXIT_OK
    if state == "PAUSED":
        return EXIT_PAUSED
    return EXIT_FAILED


def upload_files(
    inputs: dict[str, str], namespace: str, flow_id: str, execution_id: str
) -> dict[str, str]:
    """`NAME=@/path/file` values replaced by the URI of the file, stored where Kestra keeps
    an execution's input files; `@@text` is the literal `@text`."""
    out = dict(inputs)
    for name, value in inputs.items():
        if value.startswith("@@"):
            out[name] = value[1:]
        elif value.startswith("@"):
            source = Path(value[1:]).expanduser()
            if not source.is_file():
                raise OSError(f"input {name}: no file {source}")
            prefix = execution_prefix(namespace, flow_id, execution_id)
            uri = StorageURI((*prefix, "inputs", name, source.name))
            out[name] = str(default_storage().put_file(uri, source))
    return out


def _stops_here(execution: Execution) -> bool:
    """Ended, or paused for a person: a Pause with a `delay` resumes by itself, so `run`
    keeps waiting through it."""
    state = execution.state.current
    return state in TERMINATED or (state == "PAUSED" and not execution.k_auto_resume)


def _warn_skipped(problems: list[Problem]) -> None:
    """One warning per file that did not load, with its first problem and a count."""
    by_file: dict[str, list[Problem]] = {}
    for problem in problems:
        by_file.setdefault(str(problem.file), []).append(problem)
    for found in by_file.values():
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        print(f"warning: skipped {found[0]}{more}", file=sys.stderr)
