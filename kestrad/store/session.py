"""The settings of every PostgreSQL connection kestrad opens (`database.*` in kestrad.yml)."""

from __future__ import annotations

import msgspec


class Session(msgspec.Struct, frozen=True, kw_only=True):
    """Settings of each connection kestrad opens (`database.*` in kestrad.yml).

    Why the timeouts: a daemon frozen inside a transaction (SIGSTOP, a stalled VM) holds
    its row locks for as long as it is frozen, and every other daemon that needs those
    rows waits with it. `idle_in_transaction_session_timeout` ends such a session (and
    its locks) after a few seconds; `statement_timeout` bounds a statement that waits or
    runs far longer than any of kestrad's should. The application name shows each
    instance in `pg_stat_activity` and lets liveness fence it (store/lease.py).
    """

    application_name: str = "kestrad"
    statement_timeout: float = 60.0  # seconds; 0 = none
    idle_in_transaction_timeout: float = 10.0  # seconds; 0 = none

    def server_settings(self, application_name: str) -> dict[str, str]:
        return {
            "application_name": application_name,
            "statement_timeout": str(int(self.statement_timeout * 1000)),
            "idle_in_transaction_session_timeout": str(
                int(self.idle_in_transaction_timeout * 1000)
            ),
        }
