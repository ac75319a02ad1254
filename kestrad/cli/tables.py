"""Tables for people: column widths measured by `rich`, plain text when not a terminal.

Hand padding broke on wide task ids and on non-ASCII values; rich measures each cell's
display width. Piped into a file or `grep`, the table has no colours and no wrapping
(one row per line, whatever its length), so scripts can still read it.

Importing rich's console costs about a tenth of a one-shot `kestrad run`, so the piped
table of printable cells is laid out here with rich's own cell-width measure (the same
text rich prints), and rich's console loads only for a terminal or a cell it must render.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

# Wide enough that a piped table never wraps a row.
PIPE_WIDTH = 100_000
# Between columns; the last column has no right padding (rich's pad_edge=False).
GAP = 2


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]], out: TextIO) -> None:
    """Print `rows` under `headers`, columns separated by two spaces; `-` for None."""
    cells = [["-" if cell is None else str(cell) for cell in row] for row in rows]
    tty = out.isatty()
    if not tty and _plain(headers, cells):
        _print_plain(list(headers), cells, out)
    else:
        _print_rich(headers, cells, out, tty)
    out.flush()


def _plain(headers: Sequence[str], cells: list[list[str]]) -> bool:
    """True when every cell is one printable line (no newline, tab or control character)
    and each row has a cell per header: what rich would lay out as plain padding."""
    return all(h.isprintable() for h in headers) and all(
        len(row) == len(headers) and all(cell.isprintable() for cell in row) for row in cells
    )


def _print_plain(headers: list[str], cells: list[list[str]], out: TextIO) -> None:
    lines = [headers, *cells]
    widths = [max(_width(line[i]) for line in lines) for i in range(len(headers))]
    last = len(headers) - 1
    for line in lines:
        parts = []
        for i, cell in enumerate(line):
            pad = widths[i] - _width(cell) + (0 if i == last else GAP)
            parts.append(cell + " " * pad)
        out.write("".join(parts) + "\n")


def _width(cell: str) -> int:
    """The columns a printable cell takes: one per character for ASCII, else rich's
    measure (wide and combining characters), loaded only for such a cell."""
    if cell.isascii():
        return len(cell)
    from rich.cells import cell_len

    return cell_len(cell)


def _print_rich(headers: Sequence[str], cells: list[list[str]], out: TextIO, tty: bool) -> None:
    from rich.console import Console
    from rich.table import Table

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
    for row in cells:
        table.add_row(*row)
    console.print(table)
