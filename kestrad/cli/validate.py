"""`kestrad validate PATH…`: every problem of every flow file, as file:line:col.

Each `---`-separated document of a file is checked as a flow of its own. Notices that do
not refuse a flow (a deprecated type name, an expression that will not render) are
printed as `file:line:col: warning: …` and leave the exit status alone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kestrad.cli.common import EXIT_INVALID, EXIT_OK, warning_text
from kestrad.flows.loader import Problem, validate_paths


def handle(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.paths]
    missing = [p for p in paths if not p.exists()]
    for path in missing:
        print(f"{path}: no such file or directory", file=sys.stderr)
    warnings: list[Problem] = []
    flows, problems = validate_paths([p for p in paths if p.exists()], warnings=warnings)
    for warning in warnings:
        print(warning_text(warning), file=sys.stderr)
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
