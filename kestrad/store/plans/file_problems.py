"""Load problems of flows-folder files: written by the folder's sync, read by every process.

The sync of one folder replaces that folder's whole set at once (a row per file): what it
writes is what it knows now, so rows of files that load again, or are gone, go with the
same transaction. PostgreSQL serializes two replacers of one folder (two daemons syncing
it) with an advisory lock on its root.

Paths and messages are text to show, written as text: what a text column cannot hold (a
lone surrogate from a file name that is not UTF-8, a NUL) is written escaped
(`\\udcff`, `\\x00`), the same on both dialects, rather than refusing the whole set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from kestrad.flows.problems import Problem
from kestrad.model.state import now_iso
from kestrad.store.statements import All, Execute, Many, Plan

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(list[Problem]).decode


def replace_file_problems(root: str, problems: Mapping[str, Sequence[Problem]]) -> Plan[None]:
    """Make `problems` (path → its problems) the whole stored set of folder `root`."""
    root = _column(root)
    yield Execute("file_problems_lock", (f"file-problems:{root}",))
    yield Execute("file_problems_clear", (root,))
    updated = now_iso()
    rows: dict[str, tuple[str, str, str, str]] = {}
    for path, found in problems.items():
        key = _column(path)
        text = _encode([_storable(p) for p in found]).decode()
        rows[key] = (root, key, text, updated)
    yield Many("file_problems_insert", list(rows.values()))


def file_problems() -> Plan[dict[str, list[Problem]]]:
    """Every stored file's problems, by path, of every folder synced on this store (a file
    under two folders synced, one inside the other, is told once)."""
    out: dict[str, list[Problem]] = {}
    for _root, path, text in (yield All("file_problems_list")):
        if path not in out:
            out[path] = _decode(text)
    return out


def _utf8(text: str) -> str:
    """`text` encodable as UTF-8: lone surrogates (an undecodable file name's bytes, as
    Python reads it) written as `\\udcff`."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _column(text: str) -> str:
    """`text` as a text column of either dialect holds it (PostgreSQL refuses NUL)."""
    return _utf8(text).replace("\x00", "\\x00")


def _storable(problem: Problem) -> Problem:
    """The problem with texts JSON can encode (JSON escapes NUL itself)."""
    return msgspec.structs.replace(
        problem,
        file=_utf8(problem.file) if problem.file is not None else None,
        path=_utf8(problem.path),
        message=_utf8(problem.message),
    )
