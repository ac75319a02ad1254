"""`kestrad executions list|get|delete|files|resume|approve|deny|kill|restart|replay`:
executions through the store. `get` prints the state, one row per task run, the outputs and
the ERROR lines that say why it failed; `files` lists the execution's files or writes one out.

`list` pages like the HTTP API: newest first, a keyset cursor to the next page (printed on
stderr, so stdout stays one execution per line), a count only with `--count`. The actions
are the commands of runtime/commands (checked by the same transition rules as the HTTP
API's): they only publish an event (or, for replay, a new execution) in the database;
whichever daemon runs an executor on that database carries it out, so these work from any
shell on the host without the HTTP API.
"""

from __future__ import annotations

import argparse
import json
import sys

from kestrad.cli.common import EXIT_FAILED, EXIT_INVALID, EXIT_OK, error, flow_filter, pairs
from kestrad.cli.store import configured_storage, open_configured_store
from kestrad.cli.summary import error_lines, print_summary
from kestrad.cli.tables import print_table
from kestrad.config import ConfigError
from kestrad.model.execution import Execution
from kestrad.model.state import ALL_STATES
from kestrad.runtime.commands import admin
from kestrad.runtime.commands import executions as commands
from kestrad.runtime.engine import execution_to_json
from kestrad.storage import LocalStorage, StorageError, StorageURI, execution_prefix
from kestrad.store.base import Store
from kestrad.store.cursor import decode_cursor, encode_cursor, position


async def handle(args: argparse.Namespace) -> int:
    command = args.executions_command
    if command == "list":
        return await list_executions(args)
    if command in ("get", "delete", "files"):
        try:
            async with open_configured_store(args.config) as store:
                execution = await store.get_execution(args.execution_id)
                if execution is None:
                    error(f"execution {args.execution_id} not found")
                    return EXIT_FAILED
                if command == "get":
                    return await _get(args, store, execution)
                storage = LocalStorage(configured_storage(args.config))
                if command == "files":
                    return _files(args, storage, execution)
                return await _delete(args, store, storage)
        except (ConfigError, ValueError, LookupError, OSError, StorageError) as exc:
            error(exc)
            return EXIT_INVALID
    return await act(args)


async def _get(args: argparse.Namespace, store: Store, execution: Execution) -> int:
    if args.json:
        print(json.dumps(execution_to_json(execution), indent=2))
    else:
        print_summary(execution, await error_lines(store, execution.id), sys.stdout)
    return EXIT_OK


async def _delete(args: argparse.Namespace, store: Store, storage: LocalStorage) -> int:
    try:
        await admin.delete(store, storage, [args.execution_id], logs=not args.keep_logs)
    except commands.CommandRefused as exc:
        error(exc)
        return EXIT_FAILED
    print(f"deleted {args.execution_id}" + (" (logs kept)" if args.keep_logs else ""))
    return EXIT_OK


def _files(args: argparse.Namespace, storage: LocalStorage, execution: Execution) -> int:
    """Without a URI: every file of the execution (`size uri`); with one: its bytes."""
    prefix = execution_prefix(execution.namespace, execution.flow_id, execution.id)
    if args.uri is None:
        folder = storage.root.joinpath(*prefix)
        found = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
        rows = [
            (p.stat().st_size, str(StorageURI(prefix).child(str(p.relative_to(folder)))))
            for p in found
        ]
        print_table(("size", "uri"), rows, sys.stdout)
        return EXIT_OK
    uri = StorageURI.parse(args.uri)
    if not uri.is_under(prefix) or not storage.exists(uri):
        error(f"{args.uri} is not a file of execution {execution.id}")
        return EXIT_FAILED
    data = storage.get(uri)
    if args.output:
        with open(args.output, "wb") as handle:
            handle.write(data)
        print(f"{len(data)} bytes written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return EXIT_OK


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
            if action == "replay":
                replay = await commands.replay(store, args.execution_id, args.task_run)
                print(f"{replay.id} replays {args.execution_id}")
                return EXIT_OK
            if action == "resume":
                inputs = pairs(args.input, "input") or None
                execution = await commands.resume(store, args.execution_id, inputs)
            elif action in ("approve", "deny"):
                inputs = pairs(args.input, "input") or None
                decision = "APPROVED" if action == "approve" else "DENIED"
                execution = await commands.resume(
                    store, args.execution_id, inputs, decision=decision, comment=args.comment
                )
            elif action == "kill":
                execution = await commands.kill(store, args.execution_id)
            elif action == "pause":
                execution = await commands.pause(store, args.execution_id)
            else:
                execution = await commands.restart(store, args.execution_id, args.revision)
            print(f"{action} requested for {execution.id} ({execution.state.current})")
            return EXIT_OK
    except commands.ExecutionNotFound as exc:
        error(exc)
        return EXIT_FAILED
    except commands.CommandRefused as exc:
        # A replay from a task run of another execution is an invalid argument (422).
        error(exc)
        return EXIT_INVALID if exc.status == 422 else EXIT_FAILED
    except (ConfigError, LookupError, ValueError) as exc:
        error(exc)
        return EXIT_INVALID
