"""Command-line front: `serve`, `run`, `validate`, `config show`, `logs`, `executions list`.

Each command imports what it needs when it runs, so `kestrad validate` stays quick and
does not load the HTTP server. The reading commands (`logs`, `executions list`) open the
database named by the configuration directly; SQLite in WAL mode lets them read while the
daemon writes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from kestrad.cli_store import open_configured_store

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_PAUSED = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kestrad", description="Run Kestra flows: one process, one database."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run one flow to its end and print its logs")
    run.add_argument("flow", help="a flow file, or namespace/flowId of a flow in --flows-dir")
    run.add_argument(
        "-i", "--input", action="append", default=[], metavar="NAME=VALUE", help="an input value"
    )
    run.add_argument("-l", "--label", action="append", default=[], metavar="KEY=VALUE")
    run.add_argument("--flows-dir", help="load every flow under this folder first")
    run.add_argument("--config", help="kestrad.yml (its database is used instead of a temp file)")
    run.add_argument("--json", action="store_true", help="print the final execution as JSON")
    run.add_argument("--timeout", type=float, default=0, help="give up after N seconds (0 = never)")

    validate = sub.add_parser("validate", help="check flow files; every problem with file:line:col")
    validate.add_argument("paths", nargs="+", help="flow files or folders")

    config_help = "kestrad.yml (default: /etc/kestrad/kestrad.yml when it exists)"
    serve = sub.add_parser("serve", help="run the daemon: flows folder, HTTP API, executor, worker")
    serve.add_argument("--config", help=config_help)
    serve.add_argument(
        "--roles",
        help="what this daemon runs: executor,worker,scheduler,webserver (default: server.roles)",
    )

    config = sub.add_parser("config", help="the configuration")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    show = config_sub.add_parser("show", help="print the effective configuration (YAML)")
    show.add_argument("--config", help=config_help)
    show.add_argument("--reveal", action="store_true", help="print secrets instead of <hidden>")

    logs = sub.add_parser(
        "logs", help="task logs: time level namespace/flow execution task message"
    )
    logs.add_argument("execution", nargs="?", help="only this execution (all of its lines)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("--flow", metavar="NS/ID", help="only this flow")
    logs.add_argument("--level", help="this level and above: TRACE, DEBUG, INFO, WARN, ERROR")
    logs.add_argument(
        "-n", "--lines", type=int, default=100, help="without EXECUTION: the last N lines first"
    )
    logs.add_argument("--config", help=config_help)

    executions = sub.add_parser("executions", help="executions")
    executions_sub = executions.add_subparsers(dest="executions_command", required=True)
    from kestrad.cli_executions import add_list_parser
    from kestrad.cli_executions import add_parsers as add_execution_parsers

    add_list_parser(executions_sub, config_help)
    add_execution_parsers(executions_sub, config_help)
    from kestrad.cli_triggers import add_parsers as add_trigger_parsers

    add_trigger_parsers(sub)
    from kestrad import cli_instances, cli_kv, cli_plugins

    for extra in (cli_kv, cli_plugins, cli_instances):
        extra.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "validate":
        return _validate(args)
    if args.command == "run":
        from kestrad.runtime.loop import run_async

        return run_async(_run, args)
    if args.command == "serve":
        from kestrad.config import default_config_path
        from kestrad.daemon import serve

        return serve(default_config_path(args.config), roles=args.roles)
    if args.command == "config":
        return _config_show(args)
    if args.command == "triggers":
        from kestrad.cli_triggers import handle as handle_triggers
        from kestrad.runtime.loop import run_async

        return run_async(handle_triggers, args)
    if args.command in ("kv", "plugins", "instances"):
        from kestrad import cli_instances, cli_kv, cli_plugins
        from kestrad.runtime.loop import run_async

        extras = {"kv": cli_kv, "plugins": cli_plugins, "instances": cli_instances}
        return run_async(extras[args.command].handle, args)
    if args.command in ("logs", "executions"):
        from kestrad.runtime.loop import run_async

        try:
            if args.command == "executions":
                from kestrad import cli_executions

                if args.executions_command == "list":
                    return run_async(cli_executions.list_executions, args, open_configured_store)
                return run_async(cli_executions.handle, args, open_configured_store)
            return run_async(_logs, args)
        except KeyboardInterrupt:
            return 130
    return EXIT_INVALID


def _config_show(args: argparse.Namespace) -> int:
    from kestrad.config import ConfigError, default_config_path, dump_config, load_config

    try:
        config = load_config(default_config_path(args.config))
        print(dump_config(config, reveal=args.reveal), end="")
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    from kestrad.flows.loader import validate_paths

    paths = [Path(p) for p in args.paths]
    missing = [p for p in paths if not p.exists()]
    for path in missing:
        print(f"{path}: no such file or directory", file=sys.stderr)
    flows, problems = validate_paths([p for p in paths if p.exists()])
    for problem in problems:
        print(str(problem), file=sys.stderr)
    if problems or missing:
        print(
            f"{len(problems) + len(missing)} problem(s); {len(flows)} flow(s) valid",
            file=sys.stderr,
        )
        return EXIT_INVALID
    print(f"{len(flows)} flow(s) valid")
    return EXIT_OK


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"{what} `{item}` must be NAME=VALUE")
        out[name] = value
    return out


async def _run(args: argparse.Namespace) -> int:
    from kestrad.config import ConfigError, load_config
    from kestrad.flows.loader import FlowLoadError
    from kestrad.model.inputs import InputsInvalid
    from kestrad.model.state import TERMINATED
    from kestrad.runtime.engine import Engine, FlowNotFound, execution_to_json

    try:
        inputs = _pairs(args.input, "input")
        labels = _pairs(args.label, "label")
        config = load_config(args.config) if args.config else None
    except (ValueError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    out = sys.stderr if args.json else sys.stdout
    async with Engine.open(config=config) as engine:
        if args.flows_dir:
            _warn_skipped(await engine.deploy_directory(args.flows_dir))
        target = Path(args.flow)
        try:
            if target.is_file():
                flow = await engine.deploy_source(target.read_text(), file=str(target))
                namespace, flow_id = flow.namespace, flow.id
            else:
                namespace, _, flow_id = args.flow.rpartition("/")
                if not namespace:
                    print(
                        f"error: `{args.flow}` is neither a file nor namespace/flowId",
                        file=sys.stderr,
                    )
                    return EXIT_INVALID
        except FlowLoadError as exc:
            for problem in exc.problems:
                print(str(problem), file=sys.stderr)
            return EXIT_INVALID
        try:
            execution = await engine.create_execution(namespace, flow_id, inputs, labels)
        except FlowNotFound as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_INVALID
        except InputsInvalid as exc:
            for error in exc.errors:
                print(f"error: {error.message}", file=sys.stderr)
            return EXIT_INVALID

        def print_logs(entries: list[Any]) -> None:
            for entry in entries:
                if entry.execution_id == execution.id:
                    task = entry.task_id or "-"
                    print(f"{entry.timestamp} {entry.level:<5} {task} {entry.message}", file=out)
            out.flush()

        unsubscribe = engine.hub.subscribe_logs(print_logs)
        try:
            final = await engine.wait_for(
                execution.id,
                until=lambda e: (
                    e.state.current in TERMINATED
                    or (e.state.current == "PAUSED" and not _auto_resumes(e))
                ),
                timeout=args.timeout or float("inf"),
            )
        except TimeoutError as exc:
            print(f"error: {exc}", file=sys.stderr)
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


# -- reading commands: straight from the database --------------------------------------------
LOG_LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]
FOLLOW_INTERVAL = 0.5


def _levels_from(level: str | None) -> list[str] | None:
    """`WARN` → every level at or above it (task logs spell WARNING as WARN)."""
    if level is None:
        return None
    name = "WARN" if level.upper() == "WARNING" else level.upper()
    if name not in LOG_LEVELS:
        raise ValueError(f"--level `{level}`: one of {', '.join(LOG_LEVELS)}")
    return LOG_LEVELS[LOG_LEVELS.index(name) :]


def _flow_filter(value: str | None) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    namespace, _, flow_id = value.rpartition("/")
    if not namespace or not flow_id:
        raise ValueError(f"--flow `{value}` must be NAMESPACE/FLOW_ID")
    return namespace, flow_id


def _format_log(entry: Any) -> str:
    task = entry.task_id or "-"
    return (
        f"{entry.timestamp} {entry.level:<5} {entry.namespace}/{entry.flow_id} "
        f"{entry.execution_id} {task} {entry.message}"
    )


async def _logs(args: argparse.Namespace) -> int:
    from kestrad.config import ConfigError
    from kestrad.model.state import TERMINATED

    try:
        levels = _levels_from(args.level)
        namespace, flow_id = _flow_filter(args.flow)
        async with open_configured_store(args.config) as store:
            filters = dict(
                execution_id=args.execution, namespace=namespace, flow_id=flow_id, levels=levels
            )
            if args.execution:
                entries = await store.search_logs(after=0, limit=100_000, **filters)
            else:
                entries = await store.latest_logs(limit=max(args.lines, 0), **filters)
            last = entries[-1].seq if entries else 0
            if not entries and not args.execution:
                last = await _last_seq(store)
            _print_logs(entries)
            while args.follow:
                entries = await store.search_logs(after=last, limit=10_000, **filters)
                _print_logs(entries)
                if entries:
                    last = entries[-1].seq
                    continue
                if args.execution:
                    execution = await store.get_execution(args.execution)
                    if execution is None or execution.state.current in TERMINATED:
                        break
                await _sleep(FOLLOW_INTERVAL)
    except (ConfigError, ValueError, LookupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


async def _last_seq(store: Any) -> int:
    """With nothing printed yet, follow from the current end (not from the first line ever)."""
    latest = await store.latest_logs(limit=1)
    return latest[-1].seq if latest else 0


def _print_logs(entries: list[Any]) -> None:
    for entry in entries:
        print(_format_log(entry))
    sys.stdout.flush()


async def _sleep(seconds: float) -> None:
    import anyio

    await anyio.sleep(seconds)


def _warn_skipped(problems: list[Any]) -> None:
    """One warning per file that did not load, with its first problem and a count."""
    by_file: dict[str, list[Any]] = {}
    for problem in problems:
        by_file.setdefault(str(problem.file), []).append(problem)
    for found in by_file.values():
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        print(f"warning: skipped {found[0]}{more}", file=sys.stderr)


def _auto_resumes(execution: Any) -> bool:
    """A Pause with a `delay` resumes by itself; `kestrad run` keeps waiting through it."""
    return bool(execution.k_auto_resume)


if __name__ == "__main__":
    raise SystemExit(main())
