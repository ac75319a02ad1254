"""`kestrad config show`: the effective configuration, secrets hidden unless `--reveal`."""

from __future__ import annotations

import argparse

from kestrad.cli.common import EXIT_INVALID, EXIT_OK, error
from kestrad.config import ConfigError, default_config_path, dump_config, load_config


def handle(args: argparse.Namespace) -> int:
    try:
        config = load_config(default_config_path(args.config))
        print(dump_config(config, reveal=args.reveal), end="")
    except ConfigError as exc:
        error(exc)
        return EXIT_INVALID
    return EXIT_OK
