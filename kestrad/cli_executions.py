"""`kestrad executions resume|kill|restart|replay`: act on an execution through the store.

Each command only publishes an event (or, for replay, a new execution) in the database;
whichever daemon runs an executor on that database carries it out, so these work from
any shell on the host without the HTTP API.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
ACTIONS = ("resume", "kill", "restart", "replay")


def add_parsers(executions_sub: Any, config_help: str) -> None:
    """Add the actions to the `executions` subcommand's parsers."""
    for action, help_text in (
        ("resume", "resume a PAUSED execution (optionally with onResume inputs)"),
        ("kill", "kill a running execution (its subflows too)"),
        ("restart", "run the failed task runs of an ended execution again"),
        ("replay", "a new execution replaying this one, from the start or a task run"),
    ):
        parser = executions_sub.add_parser(action, help=help_text)
        parser.add_argument("execution_id", metavar="EXECUTION_ID")
        parser.add_argument("--config", help=config_help)
        if action == "resume":
            parser.add_argument("-i", "--input", action="append", default=[], metavar="NAME=VALUE")
        if action == "restart":
            parser.add_argument("--revision", type=int, help="restart on this flow revision")
        if action == "replay":
            parser.add_argument("--task-run", help="replay from this task run id")


async def handle(args: argparse.Namespace, open_store: Any) -> int:
    """Publish the action's event; 1 when the execution is unknown or in the wrong state."""
    from kestrad.config import ConfigError
    from kestrad.model import state as S
    from kestrad.runtime.messages import Kill, Restart, Resume, encode
    from kestrad.runtime.replay import ReplayError, replay_execution
    from kestrad.store.base import Outgoing

    action = args.executions_command
    try:
        async with open_store(args.config) as store:
            execution = await store.get_execution(args.execution_id)
            if execution is None:
                print(f"error: execution {args.execution_id} not found", file=sys.stderr)
                return EXIT_FAILED
            state = execution.state.current
            if action == "replay":
                replay = replay_execution(execution, args.task_run)
                await store.create_executions([replay])
                print(f"{replay.id} replays {execution.id}")
                return EXIT_OK
            if action == "resume" and state != S.PAUSED:
                print(f"error: execution is {state}, not PAUSED", file=sys.stderr)
                return EXIT_FAILED
            if action == "kill" and execution.terminated:
                print(f"error: execution already ended {state}", file=sys.stderr)
                return EXIT_FAILED
            if action == "restart" and not (execution.terminated or state == S.PAUSED):
                print(f"error: execution is {state}; only ended ones restart", file=sys.stderr)
                return EXIT_FAILED
            event: Any
            if action == "resume":
                event = Resume(inputs=_pairs(args.input) or None)
            elif action == "kill":
                event = Kill()
            else:
                event = Restart(revision=args.revision)
            await store.publish_events([Outgoing(key=execution.id, payload=encode(event))])
            print(f"{action} requested for {execution.id} ({state})")
            return EXIT_OK
    except (ConfigError, LookupError, ValueError, ReplayError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID


def _pairs(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"input `{item}` must be NAME=VALUE")
        out[name] = value
    return out
