"""`kestrad …`: parse the arguments, then run the chosen command group's `handle`."""

from __future__ import annotations

import importlib
import inspect
import os
import sys

from kestrad.cli.common import EXIT_INVALID
from kestrad.cli.parsers import COMMAND_MODULES, build_parser
from kestrad.runtime.loop import run_async


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    args = build_parser(argv).parse_args(argv)
    module_name = COMMAND_MODULES.get(args.command)
    if module_name is None:
        return EXIT_INVALID
    # Only the chosen group is imported: `validate` never loads the engine or the API.
    handle = importlib.import_module(f"kestrad.cli.{module_name}").handle
    try:
        if inspect.iscoroutinefunction(handle):
            return run_async(handle, args)
        return handle(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `kestrad logs -f | head`: the reader left. Say nothing, and keep Python's
        # final flush of stdout from printing a traceback about it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    raise SystemExit(main())
