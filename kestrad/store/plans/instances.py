"""Service instances (daemons): registration, heartbeats, and the claims of the silent."""

from __future__ import annotations

import os
import socket
import time

from kestrad.store.records import InFlightJob, InstanceRow, Released
from kestrad.store.rows import instance_row, pid_alive
from kestrad.store.statements import All, Execute, Plan


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


def heartbeat(instance_id: str) -> Plan[None]:
    yield Execute("instance_heartbeat", (time.time(), instance_id))


def stop_instance(instance_id: str) -> Plan[None]:
    yield Execute("queue_worker_hand_back", (instance_id,))
    yield Execute("instance_set_state", ("STOPPED", instance_id))
    yield Execute("queue_worker_release_dead")


def disconnect_silent_instances(
    instance_id: str, silent_since: float, purge_before: float
) -> Plan[Released]:
    rows = yield All("instance_disconnect_silent", (silent_since, instance_id))
    gone = [r[0] for r in rows]
    in_flight: list[InFlightJob] = []
    if gone:
        in_flight = [_in_flight(r) for r in (yield All("queue_worker_in_flight_of", (gone,)))]
        yield Execute("queue_worker_release_instances", (gone,))
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
