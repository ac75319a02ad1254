"""`kestrad plugins list`: every task type (built-in and from plugins) with its properties."""

from __future__ import annotations

import argparse
import json
import sys

import msgspec

from kestrad.tasks import plugins
from kestrad.tasks.registry import all_types


async def handle(args: argparse.Namespace) -> int:
    """Print the listing; 0, or 1 when `--type` matches nothing."""
    types = sorted(all_types().items())
    if args.type:
        types = [(name, cls) for name, cls in types if args.type.lower() in name.lower()]
    if not types:
        print(f"no task type matches `{args.type}`", file=sys.stderr)
        return 1
    if args.json:
        listing = {
            name: {
                "origin": plugins.origins.get(name, "kestrad"),
                "properties": msgspec.to_builtins(plugins.properties(cls)),
            }
            for name, cls in types
        }
        print(json.dumps(listing, indent=2, default=str))
        return 0
    for name, cls in types:
        origin = plugins.origins.get(name)
        print(f"{name}" + (f"  (plugin: {origin})" if origin else ""))
        for prop in plugins.properties(cls):
            need = "required" if prop.required else f"default {prop.default!r}"
            print(f"    {prop.name}: {prop.type}  [{need}]")
    for name, problem in sorted(plugins.problems.items()):
        print(f"{name}  (plugin failed to load: {problem})", file=sys.stderr)
    return 0
