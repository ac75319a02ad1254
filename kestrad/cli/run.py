"""`kestrad run FLOW`: one execution on the daemon's own engine, its logs live, its end as
the exit status (0 SUCCESS/WARNING, 1 FAILED/KILLED, 2 invalid, 3 paused for a person)."""

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
    error,
    pairs,
    warning_text,
)
from kestrad.config import ConfigError, load_config
from kestrad.flows.loader import FlowLoadError, load_warnings
from kestrad.flows.problems import Problem
from kestrad.model.execution import Execution
from kestrad.model.inputs import InputsInvalid
from kestrad.model.records import LogEntry
from kestrad.model.state import TERMINATED
from kestrad.runtime.engine import Engine, FlowNotFound, execution_to_json


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
        try:
            execution = await engine.create_execution(namespace, flow_id, inputs, labels)
        except FlowNotFound as exc:
            error(exc)
            return EXIT_INVALID
        except InputsInvalid as exc:
            for problem in exc.errors:
                error(problem.message)
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
            error(exc)
            return EXIT_FAILED
        finally:
            unsubscribe()
    if args.json:
        print(json.dumps(execution_to_json(final), indent=2))
    else:
        print(f"{final.state.current} {final.namespace}/{final.flow_id} {final.id}", file=out)
    state = final.state.current
    if state in ("SUCCESS", "WARNING"):
        return EXIT_OK
    if state == "PAUSED":
        return EXIT_PAUSED
    return EXIT_FAILED


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
