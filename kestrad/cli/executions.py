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

from kestrad.cli.common import EXIT_FAILED, EXIT_INVALID, EXIT_OK, error, flow_filter, pairs
from kestrad.cli.store import open_configured_store
from kestrad.config import ConfigError
from kestrad.model import state as S
from kestrad.model.messages import ExecutionEvent, Kill, Restart, Resume, encode
from kestrad.model.state import ALL_STATES
from kestrad.runtime.replay import ReplayError, replay_execution
from kestrad.store.base import Outgoing
from kestrad.store.cursor import decode_cursor, encode_cursor, position


async def handle(args: argparse.Namespace) -> int:
    if args.executions_command == "list":
        return await list_executions(args)
    return await act(args)


async def list_executions(args: argparse.Namespace) -> int:
    """One page on stdout (`id ns/flow state start end`); `next:` and `total:` on stderr."""
    try:
        namespace, flow_id = flow_filter(args.flow)
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
        async with open_configured_store(args.config) as store:
            found = await store.search_executions(**filters, after=after, limit=args.limit + 1)
            total = await store.count_executions(**filters) if args.count else None
    except (ConfigError, ValueError, LookupError) as exc:
        error(exc)
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


async def act(args: argparse.Namespace) -> int:
    """Publish the action's event; 1 when the execution is unknown or in the wrong state."""
    action = args.executions_command
    try:
        async with open_configured_store(args.config) as store:
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
            event: ExecutionEvent
            if action == "resume":
                event = Resume(inputs=pairs(args.input, "input") or None)
            elif action == "kill":
                event = Kill()
            else:
                event = Restart(revision=args.revision)
            await store.publish_events([Outgoing(key=execution.id, payload=encode(event))])
            print(f"{action} requested for {execution.id} ({state})")
            return EXIT_OK
    except (ConfigError, LookupError, ValueError, ReplayError) as exc:
        error(exc)
        return EXIT_INVALID
