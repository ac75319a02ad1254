"""Loads SQL kept in `.sql` files: one named query each (`-- name: x`), and migrations."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_NAME = re.compile(r"^--\s*name:\s*(\S+)\s*$", re.MULTILINE)


@cache
def queries(dialect: str) -> dict[str, str]:
    """Every named query of `sql/<dialect>/queries.sql`.

    A body ends at its last line of SQL: the comments after it introduce the next query.
    A body left empty is a query that does nothing in this dialect (store/statements.py).
    """
    text = resources.files("kestrad.store").joinpath("sql", dialect, "queries.sql").read_text()
    parts = _NAME.split(text)
    names = parts[1::2]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:  # a second body would silently replace the first
        raise ValueError(f"sql/{dialect}/queries.sql names {', '.join(twice)} twice")
    return {name: _sql(body) for name, body in zip(names, parts[2::2], strict=True)}


def _sql(body: str) -> str:
    lines = body.strip().splitlines()
    while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith("--")):
        lines.pop()
    return "\n".join(lines)


def migrations(dialect: str) -> list[tuple[int, str, str]]:
    """(version, name, sql) of every numbered `NNN_name.sql`, in order."""
    folder = resources.files("kestrad.store").joinpath("sql", dialect)
    out: list[tuple[int, str, str]] = []
    for entry in folder.iterdir():
        match = re.match(r"^(\d+)_(.+)\.sql$", entry.name)
        if match:
            out.append((int(match.group(1)), match.group(2), entry.read_text()))
    return sorted(out)
