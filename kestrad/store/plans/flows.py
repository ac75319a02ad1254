"""Flow revisions: a save adds a revision only when the source changed."""

from __future__ import annotations

from kestrad.model.state import now_iso
from kestrad.store.records import FlowChange, FlowRow
from kestrad.store.rows import flow_change, flow_row
from kestrad.store.statements import All, Execute, One, Plan


def save_flow(
    namespace: str, flow_id: str, source: str, digest: str, file: str | None
) -> Plan[FlowRow]:
    """The latest revision if its hash is `digest` (enabled again, its file updated),
    else a new revision. The lock serializes saves of one flow across daemons."""
    yield Execute("flow_save_lock", (f"flow:{namespace}/{flow_id}",))
    latest = yield from get_flow(namespace, flow_id, None)
    if latest is not None and latest.hash == digest:
        if latest.disabled or latest.deleted or latest.file != file:
            yield Execute("flow_restore", (file, now_iso(), namespace, flow_id, latest.revision))
            latest.disabled = latest.deleted = False
            latest.file = file
        return latest
    revision = latest.revision + 1 if latest else 1
    yield Execute("flow_insert", (namespace, flow_id, revision, source, digest, file, now_iso()))
    return FlowRow(
        namespace=namespace, id=flow_id, revision=revision, source=source, hash=digest, file=file
    )


def get_flow(namespace: str, flow_id: str, revision: int | None) -> Plan[FlowRow | None]:
    if revision is None:
        row = yield One("flow_latest", (namespace, flow_id))
    else:
        row = yield One("flow_revision", (namespace, flow_id, revision))
    return flow_row(row) if row else None


def list_flows() -> Plan[list[FlowRow]]:
    return [flow_row(r) for r in (yield All("flow_list_latest"))]


def flow_changes_since(since: str) -> Plan[list[FlowChange]]:
    """Revisions written since `since` (ISO text, inclusive), oldest stamp first."""
    return [flow_change(r) for r in (yield All("flow_changes_since", (since,)))]


def set_flow_flags(row: FlowRow, *, disabled: bool, deleted: bool) -> Plan[None]:
    params = (disabled, deleted, now_iso(), row.namespace, row.id, row.revision)
    yield Execute("flow_set_flags", params)
