"""What is wrong with a flow file, and where: one `Problem` per fault, all reported at once.

A file that fails to load must say everything that is wrong with it in one pass (an editor
fixing problems one reload at a time is slow), each with a 1-based `file:line:col` a
terminal or editor can jump to, and the property path inside the flow.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

PathKey = tuple[str | int, ...]


class Problem(msgspec.Struct, kw_only=True, frozen=True):
    """One fault in one file: `file:line:col: path: message`."""

    file: str | None
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file or '<flow>'}:{self.line}:{self.column}"
        if self.path:
            return f"{where}: {self.path}: {self.message}"
        return f"{where}: {self.message}"


class FlowLoadError(Exception):
    """A flow could not be loaded; `problems` lists every fault found, in file order."""

    def __init__(self, problems: list[Problem], warnings: list[Problem] | None = None) -> None:
        self.problems = problems
        self.warnings = warnings or []
        super().__init__("\n".join(str(p) for p in problems))


def format_path(path: Iterable[str | int]) -> str:
    """`("tasks", 0, "then", 1, "message")` → `tasks[0].then[1].message`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif out:
            out += f".{part}"
        else:
            out = str(part)
    return out
