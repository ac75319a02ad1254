"""Tables for people: column widths measured by `rich`, plain text when not a terminal.

Hand padding broke on wide task ids and on non-ASCII values; rich measures each cell's
display width. Piped into a file or `grep`, the table has no colours and no wrapping
(one row per line, whatever its length), so scripts can still read it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from rich.console import Console
from rich.table import Table

# Wide enough that a piped table never wraps a row.
PIPE_WIDTH = 100_000


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]], out: TextIO) -> None:
    """Print `rows` under `headers`, columns separated by two spaces; `-` for None."""
    tty = out.isatty()
    console = Console(
        file=out,
        width=None if tty else PIPE_WIDTH,
        no_color=not tty,
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=not tty,
    )
    table = Table(box=None, pad_edge=False, padding=(0, 2, 0, 0), header_style="bold")
    for header in headers:
        table.add_column(header, overflow="fold" if tty else "ignore", no_wrap=not tty)
    for row in rows:
        table.add_row(*("-" if cell is None else str(cell) for cell in row))
    console.print(table)
    out.flush()
