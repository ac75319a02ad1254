"""Every command's arguments, and nothing else: building them imports only argparse.

Each command group's module (`kestrad.cli.<group>`) is imported only when it runs, so
`--help` and the parse itself stay cheap whatever a command needs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from kestrad import __version__
from kestrad.model.kv import KV_TYPES

CONFIG_HELP = (
    "kestrad.yml (default: $KESTRAD_CONFIG, else ./kestrad.yml, else /etc/kestrad/kestrad.yml)"
)
# The module under kestrad.cli that runs each top-level command.
COMMAND_MODULES = {
    "run": "run",
    "validate": "validate",
    "serve": "serve",
    "config": "config_show",
    "logs": "logs",
    "executions": "executions",
    "flows": "flows",
    "triggers": "triggers",
    "kv": "kv",
    "plugins": "plugins",
    "instances": "instances",
}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `argv`, only the command it names gets its arguments.

    The others keep their name and help line (all that `kestrad --help` and a wrong
    command's error show) but not their arguments: a one-shot `kestrad run` would
    otherwise build some forty parsers, each asking gettext for its messages, for one.
    """
    parser = argparse.ArgumentParser(
        prog="kestrad", description="Run Kestra flows: one process, one database."
    )
    parser.add_argument("--version", action="version", version=f"kestrad {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    commands = _commands()
    named = argv[0] if argv and argv[0] in commands else None
    for name, (help_text, add_arguments) in commands.items():
        command = sub.add_parser(name, help=help_text)
        if named is None or named == name:
            add_arguments(command)
    return parser


def _commands() -> dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]]:
    """Each top-level command: its help line and what adds its arguments, in the order
    `kestrad --help` lists them."""
    return {
        "run": ("run one flow to its end and print its logs", add_run),
        "validate": ("check flow files; every problem with file:line:col", add_validate),
        "serve": ("run the daemon: flows folder, HTTP API, executor, worker", add_serve),
        "config": ("the configuration", add_config),
        "logs": ("task logs: time level namespace/flow execution task message", add_logs),
        "executions": ("executions", add_executions),
        "flows": ("the flows in the database", add_flows),
        "triggers": ("list and manage schedule triggers", add_triggers),
        "kv": ("read and write the namespace KV store", add_kv),
        "plugins": ("task types and their properties", add_plugins),
        "instances": ("the daemons sharing this database", add_instances),
    }


def add_run(run: argparse.ArgumentParser) -> None:
    run.add_argument("flow", help="a flow file, or namespace/flowId of a flow in --flows-dir")
    run.add_argument(
        "-i",
        "--input",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an input value; NAME=@/path/file uploads a file for a FILE input",
    )
    run.add_argument("-l", "--label", action="append", default=[], metavar="KEY=VALUE")
    run.add_argument("--flows-dir", help="load every flow under this folder first")
    run.add_argument("--config", help="kestrad.yml (its database is used instead of a temp file)")
    run.add_argument("--json", action="store_true", help="print the final execution as JSON")
    run.add_argument(
        "--timeout",
        type=float,
        default=0,
        help="give up after N seconds (0 = never); exit code 4 when it ran out",
    )


def add_validate(validate: argparse.ArgumentParser) -> None:
    validate.add_argument("paths", nargs="+", help="flow files or folders")


def add_serve(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--config", help=CONFIG_HELP)
    serve.add_argument(
        "--roles",
        help="what this daemon runs: executor,worker,scheduler,webserver (default: server.roles)",
    )
    serve.add_argument(
        "--processes",
        type=int,
        help="processes sharing the port and the database, 0 = one per CPU "
        "(default: server.processes)",
    )
    # Set by the first process on the others it starts: the listening socket they inherit.
    serve.add_argument("--listen-fd", type=int, help=argparse.SUPPRESS)
    serve.add_argument("--child-of", type=int, help=argparse.SUPPRESS)


def add_config(config: argparse.ArgumentParser) -> None:
    config_sub = config.add_subparsers(dest="config_command", required=True)
    show = config_sub.add_parser("show", help="print the effective configuration (YAML)")
    show.add_argument("--config", help=CONFIG_HELP)
    show.add_argument("--reveal", action="store_true", help="print secrets instead of <hidden>")


def add_logs(logs: argparse.ArgumentParser) -> None:
    logs.add_argument("execution", nargs="?", help="only this execution (all of its lines)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("--flow", metavar="NS/ID", help="only this flow")
    logs.add_argument("--level", help="this level and above: TRACE, DEBUG, INFO, WARN, ERROR")
    logs.add_argument(
        "-n", "--lines", type=int, default=100, help="without EXECUTION: the last N lines first"
    )
    logs.add_argument("--config", help=CONFIG_HELP)


def add_executions(executions: argparse.ArgumentParser) -> None:
    actions = executions.add_subparsers(dest="executions_command", required=True)
    listing = actions.add_parser("list", help="the latest executions, newest first")
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
    listing.add_argument("--config", help=CONFIG_HELP)
    get = actions.add_parser("get", help="state, task runs, outputs and why it failed")
    get.add_argument("execution_id", metavar="EXECUTION_ID")
    get.add_argument("--json", action="store_true", help="the execution as JSON")
    get.add_argument("--config", help=CONFIG_HELP)
    delete = actions.add_parser("delete", help="delete an ended execution, its logs and files")
    delete.add_argument("execution_id", metavar="EXECUTION_ID")
    delete.add_argument("--keep-logs", action="store_true", help="keep its log lines")
    delete.add_argument("--config", help=CONFIG_HELP)
    files = actions.add_parser(
        "files", help="list an execution's files, or write one (URI) to a file or stdout"
    )
    files.add_argument("execution_id", metavar="EXECUTION_ID")
    files.add_argument("uri", nargs="?", metavar="kestra:///…", help="the file to write out")
    files.add_argument("-o", "--output", help="write it here (default: stdout)")
    files.add_argument("--config", help=CONFIG_HELP)
    for action, help_text in (
        ("resume", "resume a PAUSED execution (optionally with onResume inputs)"),
        ("approve", "approve the paused Approval task of an execution"),
        ("deny", "deny the paused Approval task of an execution"),
        ("kill", "kill a running execution (its subflows too)"),
        ("pause", "pause a running execution: what runs ends, nothing new starts until resume"),
        ("restart", "run the failed task runs of an ended execution again"),
        ("replay", "a new execution replaying this one, from the start or a task run"),
    ):
        parser = actions.add_parser(action, help=help_text)
        parser.add_argument("execution_id", metavar="EXECUTION_ID")
        parser.add_argument("--config", help=CONFIG_HELP)
        if action in ("resume", "approve", "deny"):
            parser.add_argument("-i", "--input", action="append", default=[], metavar="NAME=VALUE")
        if action in ("approve", "deny"):
            parser.add_argument("--comment", help="the reviewer's comment")
        if action == "restart":
            parser.add_argument("--revision", type=int, help="restart on this flow revision")
        if action == "replay":
            parser.add_argument("--task-run", help="replay from this task run id")


def add_flows(flows: argparse.ArgumentParser) -> None:
    actions = flows.add_subparsers(dest="flows_command", required=True)
    listing = actions.add_parser("list", help="namespace, id, revision, disabled, file")
    listing.add_argument("--namespace", help="only this namespace and those below it")
    listing.add_argument("--config", help=CONFIG_HELP)
    for action, help_text in (
        ("get", "print the flow's YAML"),
        ("delete", "delete a flow created through the API (not one of the folder)"),
    ):
        parser = actions.add_parser(action, help=help_text)
        parser.add_argument("flow", metavar="NAMESPACE/FLOW_ID")
        parser.add_argument("--config", help=CONFIG_HELP)


def add_triggers(triggers: argparse.ArgumentParser) -> None:
    actions = triggers.add_subparsers(dest="triggers_action", required=True)

    def target(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("flow", metavar="NAMESPACE/FLOW")
        parser.add_argument("trigger", metavar="TRIGGER")
        parser.add_argument("--config", help=CONFIG_HELP)

    listing = actions.add_parser("list", help="trigger states: next fire time, lock, backfill")
    listing.add_argument("--namespace")
    listing.add_argument("--flow", metavar="NAMESPACE/FLOW")
    listing.add_argument("--limit", type=int, default=1000)
    listing.add_argument("--config", help=CONFIG_HELP)
    target(actions.add_parser("unlock", help="clear the running-execution lock"))
    target(actions.add_parser("enable", help="enable (recovery policy applies)"))
    target(actions.add_parser("disable", help="stop firing until enabled"))
    backfill = actions.add_parser("backfill", help="replay past fire times [start, end]")
    target(backfill)
    backfill.add_argument("--start", help="ISO-8601 date-time (zone: the trigger's)")
    backfill.add_argument("--end", help="ISO-8601 date-time (default: now)")
    backfill.add_argument("--input", action="append", default=[], metavar="KEY=VALUE")
    backfill.add_argument("--label", action="append", default=[], metavar="KEY=VALUE")
    mode = backfill.add_mutually_exclusive_group()
    mode.add_argument("--pause", action="store_true")
    mode.add_argument("--resume", action="store_true")
    mode.add_argument("--delete", action="store_true")


def add_kv(kv: argparse.ArgumentParser) -> None:
    actions = kv.add_subparsers(dest="kv_action", required=True)
    get = actions.add_parser("get", help="print a value as JSON (exit 1 when missing)")
    get.add_argument("namespace", metavar="NAMESPACE")
    get.add_argument("key", metavar="KEY")
    put = actions.add_parser("set", help="store a value")
    put.add_argument("namespace", metavar="NAMESPACE")
    put.add_argument("key", metavar="KEY")
    put.add_argument("value", metavar="VALUE")
    put.add_argument("--type", choices=KV_TYPES, default="STRING", help="kvType (STRING)")
    put.add_argument("--ttl", help="ISO-8601 duration after which the key expires")
    put.add_argument("--no-overwrite", action="store_true", help="fail if the key exists")
    listing = actions.add_parser("list", help="the keys of a namespace, with type and expiry")
    listing.add_argument("namespace", metavar="NAMESPACE")
    delete = actions.add_parser("delete", help="remove a key (exit 1 when missing)")
    delete.add_argument("namespace", metavar="NAMESPACE")
    delete.add_argument("key", metavar="KEY")
    for parser in (get, put, listing, delete):
        parser.add_argument("--config", help=CONFIG_HELP)


def add_plugins(plugins: argparse.ArgumentParser) -> None:
    actions = plugins.add_subparsers(dest="plugins_action", required=True)
    listing = actions.add_parser("list", help="every task type with its properties")
    listing.add_argument("--type", help="only types whose name contains this text")
    listing.add_argument("--json", action="store_true", help="machine-readable output")


def add_instances(instances: argparse.ArgumentParser) -> None:
    actions = instances.add_subparsers(dest="instances_action", required=True)
    listing = actions.add_parser("list", help="id, roles, host, pid, started, heartbeat, state")
    listing.add_argument("--config", help=CONFIG_HELP)
