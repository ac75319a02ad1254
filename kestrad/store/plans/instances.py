"""Service instances (daemons): registration, heartbeats, and the claims of the silent."""

from __future__ import annotations

import os
import socket
import time

from kestrad.store.records import InstanceRow
from kestrad.store.rows import instance_row, pid_alive
from kestrad.store.statements import All, Execute, Plan


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


def heartbeat(instance_id: str) -> Plan[None]:
    yield Execute("instance_heartbeat", (time.time(), instance_id))


def stop_instance(instance_id: str) -> Plan[None]:
    yield Execute("instance_set_state", ("STOPPED", instance_id))
    yield Execute("queue_worker_release_dead")


def disconnect_silent_instances(
    instance_id: str, silent_since: float, purge_before: float
) -> Plan[list[str]]:
    rows = yield All("instance_disconnect_silent", (silent_since, instance_id))
    gone = [r[0] for r in rows]
    if gone:
        yield Execute("queue_worker_release_instances", (gone,))
    yield Execute("instance_purge", (purge_before,))
    return gone


def list_instances() -> Plan[list[InstanceRow]]:
    return [instance_row(r) for r in (yield All("instance_list"))]
