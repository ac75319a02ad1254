"""The executions list's keyset cursor: the (start date, id) of the last row of a page.

Opaque to clients (URL-safe base64 of a JSON pair) so its form can change, shared by the
HTTP API and `kestrad executions list` so a cursor from one works in the other. The next
page is every row strictly before that pair in (start_date DESC, id DESC) order: rows
inserted meanwhile never shift it, unlike an offset.
"""

from __future__ import annotations

import base64
import binascii

import msgspec

from kestrad.model.execution import Execution

Position = tuple[str, str]


def position(execution: Execution) -> Position:
    """Where an execution sits in the list: the columns the list is ordered by."""
    return execution.state.start_date, execution.id


def encode_cursor(at: Position) -> str:
    raw = msgspec.json.encode(list(at))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    """The position a cursor names; ValueError when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        start, eid = msgspec.json.decode(raw, type=tuple[str, str])
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise ValueError(f"invalid cursor {cursor!r}") from None
    return start, eid
