"""The KV table."""

from __future__ import annotations

import time

from kestrad.model.records import KVEntry
from kestrad.store.rows import kv_entry, kv_params
from kestrad.store.statements import All, Execute, One, Plan, Value


def kv_get(namespace: str, key: str) -> Plan[KVEntry | None]:
    row = yield One("kv_get", (namespace, key))
    return kv_entry(row) if row else None


def kv_set(entry: KVEntry, overwrite: bool) -> Plan[bool]:
    """Without `overwrite`, one statement writes unless a live row exists (an expired one
    is overwritten), so two daemons creating the same key cannot both succeed."""
    if overwrite:
        yield Execute("kv_upsert", kv_params(entry))
        return True
    return (yield Value("kv_insert_unless_live", (*kv_params(entry), time.time()))) is not None


def kv_delete(namespace: str, key: str) -> Plan[bool]:
    return (yield Execute("kv_delete", (namespace, key))) > 0


def kv_list(namespace: str | None) -> Plan[list[KVEntry]]:
    return [kv_entry(r) for r in (yield All("kv_list", (namespace,)))]


def kv_stamp() -> Plan[tuple[int, float]]:
    count, updated = yield One("kv_stamp")
    return int(count), float(updated)
