"""`kestrad flows list|get|delete`: the flows in the database (from the folder or the API).

`get` prints the YAML as stored. `delete` refuses a flow of the watched folder, naming the
file: the folder is the source of truth, remove the file instead.
"""

from __future__ import annotations

import argparse
import sys

from kestrad.cli.common import EXIT_FAILED, EXIT_INVALID, EXIT_OK, error, flow_filter
from kestrad.cli.store import open_configured_store
from kestrad.cli.tables import print_table
from kestrad.config import ConfigError, default_config_path, load_config
from kestrad.runtime.flow_search import folder_file


async def handle(args: argparse.Namespace) -> int:
    try:
        async with open_configured_store(args.config) as store:
            if args.flows_command == "list":
                rows = [r for r in await store.list_flows() if not r.deleted]
                if args.namespace:
                    rows = [
                        r
                        for r in rows
                        if r.namespace == args.namespace
                        or r.namespace.startswith(args.namespace + ".")
                    ]
                rows.sort(key=lambda r: (r.namespace, r.id))
                print_table(
                    ("namespace", "id", "revision", "disabled", "file"),
                    [
                        (r.namespace, r.id, r.revision, "yes" if r.disabled else "no", r.file)
                        for r in rows
                    ],
                    sys.stdout,
                )
                return EXIT_OK
            namespace, flow_id = flow_filter(args.flow)
            assert namespace is not None and flow_id is not None
            row = await store.get_flow(namespace, flow_id)
            if row is None or row.deleted:
                error(f"no flow {args.flow}")
                return EXIT_FAILED
            if args.flows_command == "get":
                sys.stdout.write(row.source if row.source.endswith("\n") else row.source + "\n")
                return EXIT_OK
            file = folder_file(row, load_config(default_config_path(args.config)).flows.path)
            if file is not None:
                error(
                    f"{args.flow} comes from the file {file} of the flows folder: "
                    "remove the file instead"
                )
                return EXIT_FAILED
            await store.set_flow_flags(row, disabled=row.disabled, deleted=True)
            print(f"deleted {args.flow} (revision {row.revision})")
            return EXIT_OK
    except (ConfigError, ValueError, LookupError) as exc:
        error(exc)
        return EXIT_INVALID
