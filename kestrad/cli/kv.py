"""`kestrad kv get|set|list|delete NAMESPACE [KEY] [VALUE]`: the KV store, from the shell.

The commands read and write the `kv` table directly, so they work whether or not the
daemon runs; a running daemon's `kv()` function sees a change within one refresh interval
(the `kv.Get` task sees it at once).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime

from kestrad.cli.store import open_configured_store
from kestrad.config import ConfigError
from kestrad.model.kv import KVError, check_key, encode_value, expiry
from kestrad.store.base import KVEntry, Store


async def handle(args: argparse.Namespace) -> int:
    """Run one `kv` action: 0 on success, 1 for a missing key, 2 for bad use."""
    try:
        async with open_configured_store(args.config) as store:
            return await _ACTIONS[args.kv_action](store, args)
    except (KVError, ValueError, LookupError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


async def _get(store: Store, args: argparse.Namespace) -> int:
    entry = await store.kv_get(args.namespace, check_key(args.key))
    if entry is None or entry.expired(time.time()):
        print(f"no key {args.key} in namespace {args.namespace}", file=sys.stderr)
        return 1
    print(entry.value)
    return 0


async def _set(store: Store, args: argparse.Namespace) -> int:
    now = time.time()
    text, kv_type = encode_value(args.value, args.type)
    entry = KVEntry(
        namespace=args.namespace,
        key=check_key(args.key),
        value=text,
        type=kv_type,
        expires_at=expiry(args.ttl, now),
        updated=now,
    )
    if not await store.kv_set(entry, overwrite=not args.no_overwrite):
        print(f"key {args.key} already exists in namespace {args.namespace}", file=sys.stderr)
        return 1
    print(f"{args.namespace} {args.key} = {text}")
    return 0


async def _list(store: Store, args: argparse.Namespace) -> int:
    now = time.time()
    for entry in await store.kv_list(args.namespace):
        if entry.expired(now):
            continue
        expires = (
            datetime.fromtimestamp(entry.expires_at, UTC).isoformat(timespec="seconds")
            if entry.expires_at is not None
            else "never"
        )
        print(f"{entry.key}\t{entry.type}\texpires {expires}\t{_short(entry.value)}")
    return 0


async def _delete(store: Store, args: argparse.Namespace) -> int:
    entry = await store.kv_get(args.namespace, check_key(args.key))
    await store.kv_delete(args.namespace, args.key)
    if entry is None or entry.expired(time.time()):
        print(f"no key {args.key} in namespace {args.namespace}", file=sys.stderr)
        return 1
    print(f"deleted {args.namespace} {args.key}")
    return 0


_ACTIONS = {"get": _get, "set": _set, "list": _list, "delete": _delete}


def _short(value: str, limit: int = 60) -> str:
    text = json.dumps(json.loads(value), ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"
