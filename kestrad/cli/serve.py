"""`kestrad serve`: the daemon (see kestrad.daemon)."""

from __future__ import annotations

import argparse

from kestrad.config import default_config_path
from kestrad.daemon.serve import serve


def handle(args: argparse.Namespace) -> int:
    return serve(
        default_config_path(args.config),
        roles=args.roles,
        processes=args.processes,
        listen_fd=args.listen_fd,
        child_of=args.child_of,
    )
