"""Service instances (daemons): registration, heartbeats, and the claims of the silent."""

from __future__ import annotations

import os
import socket
import time

from kestrad.store.lease import application_name
from kestrad.store.records import HandedOut, Handout, InstanceRow
from kestrad.store.rows import instance_row, pid_alive
from kestrad.store.statements import All, Execute, Plan, Value


def register_instance(instance_id: str, roles: str, liveness_timeout: float) -> Plan[None]:
    """Register this process, after marking DEAD the instances known to be gone (a process
    of this host that no longer exists, or a heartbeat older than the liveness timeout),
    and hand their worker claims out again."""
    host, now = socket.gethostname(), time.time()
    for iid, ihost, pid, beat in (yield All("instance_running")):
        dead_here = ihost == host and not pid_alive(pid)
        if dead_here or beat < now - liveness_timeout:
            yield Execute("instance_set_state", ("DEAD", iid))
    yield Execute("instance_register", (instance_id, host, os.getpid(), roles, now, now))
    yield Execute("queue_worker_release_dead")


def heartbeat(instance_id: str) -> Plan[bool]:
    """False when the row is no longer RUNNING: this instance was disconnected (fenced)."""
    return (yield Execute("instance_heartbeat", (time.time(), instance_id))) > 0


def stop_instance(instance_id: str) -> Plan[None]:
    yield Execute("instance_set_state", ("STOPPED", instance_id))
    yield Execute("queue_worker_release_dead")


def disconnect_silent_instances(
    instance_id: str, silent_since: float, purge_before: float
) -> Plan[Handout]:
    """Disconnect the instances silent since `silent_since`, fence them (their database
    sessions end, so nothing they had in flight commits), then hand out every job still
    claimed by an instance that is not RUNNING: those just disconnected, and those whose
    rows were still locked by a frozen transaction at an earlier pass."""
    gone = [r[0] for r in (yield All("instance_disconnect_silent", (silent_since, instance_id)))]
    if gone:
        yield Value("instance_fence", ([application_name(i) for i in gone],))
    held = yield All("queue_worker_held_by_gone")
    if held:
        yield Execute("queue_worker_release_seqs", ([r[1] for r in held],))
    yield Execute("instance_purge", (purge_before,))
    jobs = [HandedOut(instance=r[0], seq=r[1], key=r[2]) for r in held]
    return Handout(instances=gone, jobs=jobs)


def list_instances() -> Plan[list[InstanceRow]]:
    return [instance_row(r) for r in (yield All("instance_list"))]
