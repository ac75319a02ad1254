"""The executor's batch: one transaction that claims messages, lets the handler advance
their executions, and writes everything that comes out (outbox style).

The order of its statements is the same in every dialect, and each step is where it is
for a reason:

 1. lock the keys handed over in memory (local results, executions created here): they
    are processed now whatever happens, so their locks are waited for, sorted (two
    executors never wait on each other); table rows are then claimed with try-locks only
 2. poll due messages                     (nothing, and nothing local: no transaction work)
 3. delete the local worker's done jobs
 4. (the executions created in this process are written in step 9, once)
 5. load the batch's executions           (one `execution_get_many`)
 6. load their flows the handler lacks
 7. take the locks the handler declares (`batch_locks`) and read what it may ask the
    view under them (running counts, queued ids, Flow-trigger windows), see `prefetch`
 8. `handler.process`                     (pure code: no statement runs meanwhile)
 9. upsert the executions created here, new and changed ones: one row write each
10. delete the messages of ended executions (before this batch's own are inserted)
11. insert execution messages
12. insert worker jobs, the first `claim_limit` already claimed by the local worker
13. write the Flow-trigger windows
14. release the Schedule trigger locks of ended executions
15. delete the consumed messages
16. insert the log lines: LAST, see plans/logs.py `insert_logs`

On SQLite the locks are empty statements (one writer at a time); on PostgreSQL they make
one execution's messages processed in order by one executor at a time across daemons,
and serialize the batches that read and write one flow's running count or one window.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from hashlib import blake2b

from kestrad.model.execution import Execution, decode_execution
from kestrad.store.plans.executions import upsert_executions
from kestrad.store.plans.flows import get_flow
from kestrad.store.plans.logs import insert_logs
from kestrad.store.plans.queue import WAKE, delete_messages_of, insert_messages
from kestrad.store.records import (
    BatchLocks,
    ExecutorOutcome,
    LocalBatch,
    Outgoing,
    QueueMessage,
    TriggerWindow,
    WindowKey,
)
from kestrad.store.roles import BatchHandler
from kestrad.store.rows import trigger_window, window_params
from kestrad.store.statements import All, Execute, Many, ManyKeys, ManyReturning, Plan

# Transaction-level advisory lock classes (PostgreSQL's two-int4 form, a space apart from
# the one-bigint `hashtext(key)` locks of the queue): (class, key).
FLOW_LOCKS = 0x6B66  # per flow with a concurrency limit
WINDOW_LOCKS = 0x6B77  # per Flow-trigger window


def executor_batch(
    limit: int, handler: BatchHandler, local: LocalBatch
) -> Plan[ExecutorOutcome | None]:
    """One executor batch (see the module docstring for its order); None: nothing to do."""
    local_keys = sorted({m.key for m in local.results} | {e.id for e in local.created})
    if local_keys:
        yield Execute("queue_key_lock", (local_keys,))
    rows = yield All("queue_execution_poll", (time.time(), limit))
    if not rows and local.empty():
        return None
    if local.done:
        yield Many("queue_worker_delete", [(seq,) for seq in local.done])
    messages = [QueueMessage(seq=r[0], key=r[1], payload=r[2]) for r in rows]
    messages += [QueueMessage(seq=0, key=m.key, payload=m.payload) for m in local.results]
    messages += [QueueMessage(seq=0, key=e.id, payload=WAKE) for e in local.created]
    if not messages:
        return ExecutorOutcome(stored_logs=(yield from insert_logs(local.logs)))
    executions: dict[str, Execution] = {e.id: e for e in local.created}
    stored_keys = [k for k in dict.fromkeys(m.key for m in messages) if k not in executions]
    if stored_keys:
        for (value,) in (yield All("execution_get_many", (stored_keys,))):
            execution = decode_execution(value)
            executions[execution.id] = execution
    missing = handler.missing_flows(executions.values())
    if missing:
        found = []
        for key in sorted(missing):
            if (row := (yield from get_flow(*key))) is not None:
                found.append(row)
        handler.add_flows(found)
    declare = getattr(handler, "batch_locks", None)  # absent: the handler reads no view
    locks = declare(executions.values()) if declare is not None else BatchLocks()
    view = yield from prefetch(executions.values(), locks)
    outcome = handler.process(messages, executions, view)
    yield from upsert_executions(written_executions(local.created, outcome))
    yield from delete_messages_of([e.id for e in outcome.ended])  # before this batch's own
    yield from insert_messages("queue_execution_insert", outcome.execution_messages)
    outcome.claimed_jobs = yield from insert_jobs(outcome.worker_jobs, local)
    yield from write_trigger_windows(outcome.trigger_windows)
    yield Many("trigger_release_lock", outcome.released_triggers)
    yield Many("queue_execution_delete", [(r[0],) for r in rows])
    outcome.stored_logs = yield from insert_logs(local.logs + outcome.logs)  # last
    outcome.consumed = len(messages)
    outcome.polled = len(rows)
    return outcome


def written_executions(created: list[Execution], outcome: ExecutorOutcome) -> list[Execution]:
    """Each execution the batch writes, once, as `process` left it: the ones created in
    this process (inserted now, advanced or not), the ones the batch created and the
    ones it changed. One row write per execution per batch, not one for its insert and
    another for its first advance; an execution appears in several lists as one object."""
    written: dict[str, Execution] = {e.id: e for e in created}
    written.update((e.id, e) for e in outcome.new_executions)
    written.update((e.id, e) for e in outcome.executions)
    return list(written.values())


class PrefetchedView:
    """BatchView answered from reads made in the batch's transaction before `process`.

    Why read ahead rather than on demand: PostgreSQL's reads are awaited and the handler
    is synchronous, so its questions are declared first (`BatchHandler.batch_locks`), and
    SQLite answers the same way so that both dialects run one batch plan. Running counts
    and queued ids (enough for every execution of the batch to wake one) are read for the
    flows with a concurrency limit, and only the declared Flow-trigger windows (None: no
    row). A question outside that set is a bug, not a zero: it raises, and the batch
    runs again.
    """

    def __init__(
        self,
        running: dict[tuple[str, str], int],
        queued: dict[tuple[str, str], list[str]],
        windows: dict[WindowKey, TriggerWindow | None],
    ) -> None:
        self._running = running
        self._queued = queued
        self._windows = windows

    def running_count(self, namespace: str, flow_id: str) -> int:
        return self._running[(namespace, flow_id)]

    def queued_ids(self, namespace: str, flow_id: str, limit: int) -> list[str]:
        return self._queued[(namespace, flow_id)][:limit]

    def trigger_window(
        self, namespace: str, flow_id: str, trigger_id: str, condition_id: str
    ) -> TriggerWindow | None:
        key = (namespace, flow_id, trigger_id, condition_id)
        if key not in self._windows:
            raise LookupError(f"trigger window {key} was not declared by the batch")
        return self._windows[key]


def prefetch(executions: Iterable[Execution], locks: BatchLocks) -> Plan[PrefetchedView]:
    """Lock what the batch declared (`lock_batch`), then read it: counts and windows read
    after the lock see every commit of the transaction that held it before (PostgreSQL's
    READ COMMITTED takes a new snapshot per statement)."""
    yield from lock_batch(locks)
    flows = sorted(locks.flows)
    running = dict.fromkeys(flows, 0)
    queued: dict[tuple[str, str], list[str]] = {key: [] for key in flows}
    if flows:
        for ns, fid, count in (yield ManyReturning("execution_running_counts", flows)):
            running[(ns, fid)] = count
        # Enough for every end of the batch to wake one, plus the slots free already.
        free = max(max(0, limit - running[key]) for key, limit in locks.flows.items())
        wake = len(list(executions)) + free + 1
        wanted = [(ns, fid, wake) for ns, fid in flows]
        for ns, fid, execution_id in (yield ManyReturning("execution_queued_ids", wanted)):
            queued[(ns, fid)].append(execution_id)
    windows: dict[WindowKey, TriggerWindow | None] = dict.fromkeys(locks.windows)
    if locks.windows:
        rows = yield ManyReturning("trigger_window_get_many", sorted(locks.windows))
        windows.update((w.key, w) for w in map(trigger_window, rows))
    return PrefetchedView(running, queued, windows)


def lock_key(text: str) -> int:
    """A stable int4 for an advisory lock key (the same in every daemon, unlike hash())."""
    return int.from_bytes(blake2b(text.encode(), digest_size=4).digest(), "big", signed=True)


def lock_batch(locks: BatchLocks) -> Plan[None]:
    """Serialize, across daemons, the batches that read and write one flow's running
    count or one Flow-trigger window: a transaction-level advisory lock per (namespace,
    flow id) with a concurrency limit and per window, held until the commit.

    Why advisory locks and not `SELECT … FOR UPDATE` on a per-flow counter row: a
    counter must be kept right by every state change of every execution (a second truth
    beside `executions.state`, and a row version per change), while the lock costs one
    statement per batch, writes nothing, and lets the count keep coming from the
    executions themselves. Windows have rows already, but a window not yet created has
    none to lock, so they take the same kind of lock. Keys are sorted (flows, then
    windows; two keys hashed alike just share a lock) and taken after the execution key
    locks, so two batches never wait on each other in opposite orders. Batches without
    a limited flow or a precondition window take nothing.
    """
    keys = sorted(
        {(FLOW_LOCKS, lock_key("\0".join(flow))) for flow in locks.flows}
        | {(WINDOW_LOCKS, lock_key("\0".join(window))) for window in locks.windows}
    )
    yield Many("batch_lock", keys)


def write_trigger_windows(windows: dict[WindowKey, TriggerWindow | None]) -> Plan[None]:
    """Upsert or delete the Flow-trigger windows a batch touched; purge expired ones
    (PostgreSQL: only those no other batch is writing, so it never waits on one)."""
    if not windows:
        return
    yield Many("trigger_window_delete", [k for k, w in windows.items() if w is None])
    yield Many(
        "trigger_window_upsert", [window_params(w) for w in windows.values() if w is not None]
    )
    yield Execute("trigger_window_delete_expired", (time.time(),))


def insert_jobs(jobs: list[Outgoing], local: LocalBatch) -> Plan[list[QueueMessage]]:
    """Insert worker jobs; the first `claim_limit` already claimed by the local worker."""
    take = min(local.claim_limit, len(jobs)) if local.claim_for else 0
    claimed: list[QueueMessage] = []
    if take:
        at = local.claimed_at or time.time()
        rows = [(j.key, j.payload, at, local.claim_for) for j in jobs[:take]]
        seqs = yield ManyKeys("queue_worker_insert_claimed", rows)
        claimed = [
            QueueMessage(seq=seq, key=job.key, payload=job.payload)
            for seq, job in zip(seqs, jobs[:take], strict=True)
        ]
    yield from insert_messages("queue_worker_insert", jobs[take:])
    return claimed
