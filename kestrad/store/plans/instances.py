"""Service instances (daemons): registration, heartbeats, and the claims of the silent."""

from __future__ import annotations

import os
import socket
import time

from kestrad.store.lease import application_name
from kestrad.store.records import InFlightJob, InstanceRow, Released
from kestrad.store.rows import instance_row, pid_alive
from kestrad.store.statements import All, Execute, Plan, Value


def register_instance(
    instance_id: str, roles: str, liveness_timeout: float
) -> Plan[list[InFlightJob]]:
    """Register this process, after marking DEAD the instances known to be gone (a process
    of this host that no longer exists, or a heartbeat older than the liveness timeout),
    and hand their worker claims out again; returns those jobs, for the daemon's log."""
    host, now = socket.gethostname(), time.time()
    for iid, ihost, pid, beat in (yield All("instance_running")):
        dead_here = ihost == host and not pid_alive(pid)
        if dead_here or beat < now - liveness_timeout:
            yield Execute("instance_set_state", ("DEAD", iid))
    yield Execute("instance_register", (instance_id, host, os.getpid(), roles, now, now))
    in_flight = [_in_flight(r) for r in (yield All("queue_worker_in_flight_dead"))]
    yield Execute("queue_worker_release_dead")
    return in_flight


def heartbeat(instance_id: str) -> Plan[bool]:
    """False when the row is no longer RUNNING: this instance was disconnected (fenced)."""
    return (yield Execute("instance_heartbeat", (time.time(), instance_id))) > 0


def stop_instance(instance_id: str) -> Plan[None]:
    yield Execute("queue_worker_hand_back", (instance_id,))
    yield Execute("instance_set_state", ("STOPPED", instance_id))
    yield Execute("queue_worker_release_dead")


def disconnect_silent_instances(
    instance_id: str, silent_since: float, purge_before: float
) -> Plan[Released]:
    """Disconnect the instances silent since `silent_since`, fence them (their database
    sessions end, so nothing they had in flight commits), then hand out every job still
    claimed by an instance that is not RUNNING: those just disconnected, and those whose
    rows were still locked by a frozen transaction at an earlier pass."""
    gone = [r[0] for r in (yield All("instance_disconnect_silent", (silent_since, instance_id)))]
    if gone:
        yield Value("instance_fence", ([application_name(i) for i in gone],))
    in_flight = [_in_flight(r) for r in (yield All("queue_worker_held_by_gone"))]
    if in_flight:
        yield Execute("queue_worker_release_seqs", ([j.seq for j in in_flight],))
    yield Execute("instance_purge", (purge_before,))
    return Released(instances=gone, jobs=in_flight)


def _in_flight(row: tuple) -> InFlightJob:
    instance_id, seq, key, payload, deliveries, handed_back = row
    return InFlightJob(
        instance_id=instance_id,
        seq=seq,
        key=key,
        payload=bytes(payload),
        deliveries=deliveries,
        handed_back=handed_back,
    )


def list_instances() -> Plan[list[InstanceRow]]:
    return [instance_row(r) for r in (yield All("instance_list"))]
