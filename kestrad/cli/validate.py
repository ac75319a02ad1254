"""`kestrad validate PATH…`: every problem of every flow file, as file:line:col."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kestrad.cli.common import EXIT_INVALID, EXIT_OK
from kestrad.flows.loader import validate_paths


def handle(args: argparse.Namespace) -> int:
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
