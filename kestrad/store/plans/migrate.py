"""Schema migrations: numbered `.sql` files per dialect, each applied once, in order."""

from __future__ import annotations

from kestrad.model.state import now_iso
from kestrad.store.statements import All, Execute, Plan, Script


def migrate(scripts: list[tuple[int, str, str]]) -> Plan[None]:
    """Apply the (version, name, sql) scripts not recorded yet, in one transaction."""
    yield Execute("migration_no_timeout")  # an index built on a big table takes its time
    yield Execute("migration_lock")
    yield Execute("migrations_table")
    done = {row[0] for row in (yield All("migrations_applied"))}
    for version, name, sql in scripts:
        if version not in done:
            yield Script(sql)
            yield Execute("migration_record", (version, name, now_iso()))
