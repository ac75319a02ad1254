"""The queue topics outside the executor's batch: publishing execution events, the
worker's claims and results, and what the metrics and the drain read."""

from __future__ import annotations

import time

from kestrad.model.messages import Wake, encode
from kestrad.model.records import LogEntry, NewLog
from kestrad.store.plans.logs import insert_logs
from kestrad.store.records import Outgoing, QueueMessage, QueueStats
from kestrad.store.statements import All, Many, One, Plan, Value

WAKE = encode(Wake())


def insert_messages(query: str, messages: list[Outgoing]) -> Plan[None]:
    """Insert messages with `query` (`queue_execution_insert` or `queue_worker_insert`);
    an unset `available_at` is now."""
    now = time.time()
    yield Many(query, [(m.key, m.payload, m.available_at or now) for m in messages])


def wake(execution_ids: list[str]) -> Plan[None]:
    """A Wake message for each execution: its first (or next) turn in the executor."""
    yield from insert_messages(
        "queue_execution_insert", [Outgoing(key=i, payload=WAKE) for i in execution_ids]
    )


def delete_messages_of(keys: list[str]) -> Plan[None]:
    """Every queue message keyed by these executions (ended or purged): see queries.sql."""
    rows = [(key,) for key in keys]
    yield Many("queue_execution_delete_keys", rows)
    yield Many("queue_worker_delete_keys", rows)


def publish_events(messages: list[Outgoing]) -> Plan[None]:
    yield from insert_messages("queue_execution_insert", messages)


def next_event_due() -> Plan[float | None]:
    return (yield Value("queue_execution_next_due"))


def claim_worker_jobs(instance_id: str, limit: int, at: float | None) -> Plan[list[QueueMessage]]:
    rows = yield All("queue_worker_claim", (instance_id, at or time.time(), limit))
    messages = (
        QueueMessage(seq=r[0], key=r[1], payload=r[2], deliveries=r[3], handed_back=r[4])
        for r in rows
    )
    return sorted(messages, key=_seq)


def _seq(message: QueueMessage) -> int:
    return message.seq


def release_worker_claims(instance_id: str, stamps: list[float]) -> Plan[int]:
    return (yield Many("queue_worker_release_stamps", [(instance_id, s) for s in stamps]))


def complete_worker_jobs(
    results: list[Outgoing], done: list[int], logs: list[NewLog]
) -> Plan[list[LogEntry]]:
    """The worker's results, its job rows deleted, its log lines: one commit."""
    yield from insert_messages("queue_execution_insert", results)
    yield Many("queue_worker_delete", [(seq,) for seq in done])
    return (yield from insert_logs(logs))  # last: see insert_logs


def count_worker_claims(instance_id: str) -> Plan[int]:
    return int((yield Value("queue_worker_claimed_count", (instance_id,))) or 0)


def queue_stats(now: float) -> Plan[list[QueueStats]]:
    out = []
    for topic in ("execution", "worker"):
        depth, oldest = yield One(f"queue_{topic}_stats", (now,))
        out.append(QueueStats(topic=topic, depth=int(depth), oldest_due=oldest))
    return out
