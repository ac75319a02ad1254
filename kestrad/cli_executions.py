"""`kestrad executions list|resume|kill|restart|replay`: executions through the store.

`list` pages like the HTTP API: newest first, a keyset cursor to the next page (printed on
stderr, so stdout stays one execution per line), a count only with `--count`. The actions
only publish an event (or, for replay, a new execution) in the database; whichever daemon
runs an executor on that database carries it out, so these work from any shell on the
host without the HTTP API.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
ACTIONS = ("resume", "kill", "restart", "replay")


def add_list_parser(executions_sub: Any, config_help: str) -> None:
    """Add `executions list` to the `executions` subcommand's parsers."""
    listing = executions_sub.add_parser("list", help="the latest executions, newest first")
    listing.add_argument("--flow", metavar="NS/ID", help="only this flow")
    listing.add_argument("--namespace", help="only this namespace")
    listing.add_argument("--state", help="only this state (SUCCESS, FAILED, RUNNING, …)")
    listing.add_argument("--limit", type=int, default=50, help="executions per page (50)")
    listing.add_argument(
        "--after", metavar="CURSOR", help="the next page: the cursor the previous page printed"
    )
    listing.add_argument(
        "--count", action="store_true", help="also print how many match (a count(*): slower)"
    )
    listing.add_argument("--config", help=config_help)


async def list_executions(args: argparse.Namespace, open_store: Any) -> int:
    """One page on stdout (`id ns/flow state start end`); `next:` and `total:` on stderr."""
    from kestrad.cli import _flow_filter
    from kestrad.config import ConfigError
    from kestrad.model.state import ALL_STATES
    from kestrad.store.cursor import decode_cursor, encode_cursor, position

    try:
        namespace, flow_id = _flow_filter(args.flow)
        if args.namespace and namespace and args.namespace != namespace:
            raise ValueError(f"--namespace {args.namespace} contradicts --flow {args.flow}")
        namespace = namespace or args.namespace or None
        state = args.state.upper() if args.state else None
        if state is not None and state not in ALL_STATES:
            raise ValueError(f"unknown state {args.state}")
        if args.limit < 1:
            raise ValueError("--limit must be at least 1")
        after = decode_cursor(args.after) if args.after else None
        filters = {"namespace": namespace, "flow_id": flow_id, "state": state}
        async with open_store(args.config) as store:
            found = await store.search_executions(**filters, after=after, limit=args.limit + 1)
            total = await store.count_executions(**filters) if args.count else None
    except (ConfigError, ValueError, LookupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    page = found[: args.limit]
    for execution in page:
        state_info = execution.state
        print(
            f"{execution.id} {execution.namespace}/{execution.flow_id} "
            f"{state_info.current:<9} {state_info.start_date} {state_info.end_date or '-'}"
        )
    sys.stdout.flush()
    if len(found) > args.limit:
        print(f"next: --after {encode_cursor(position(page[-1]))}", file=sys.stderr)
    if total is not None:
        print(f"total: {total}", file=sys.stderr)
    return EXIT_OK


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
