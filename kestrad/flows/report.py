"""Collects problems while a flow is checked, attaching positions from the YAML source."""

from __future__ import annotations

from kestrad.flows.problems import PathKey, Problem, format_path
from kestrad.flows.yaml_source import Positions


class Report:
    """Every problem found in one file, deduplicated, each located by its property path."""

    def __init__(self, file: str | None, positions: Positions, *, strict: bool = True) -> None:
        self.file = file
        self.positions = positions
        self.strict = strict
        self.problems: list[Problem] = []
        # Notices that do not refuse the flow: deprecated names, expressions that will fail.
        self.warnings: list[Problem] = []
        self._seen: set[tuple[str, str]] = set()

    def add(self, path: PathKey, message: str, *, on_key: bool = False) -> None:
        """Record a problem at `path`: on the value, or on the key when `on_key`."""
        text = format_path(path)
        if (text, message) in self._seen:
            return
        self._seen.add((text, message))
        line, column = self.positions.locate(path, key=on_key)
        self.problems.append(
            Problem(file=self.file, line=line, column=column, path=text, message=message)
        )

    def warn(self, path: PathKey, message: str, *, on_key: bool = False) -> None:
        """Record a notice at `path` that does not refuse the flow."""
        text = format_path(path)
        if ("warning", text + message) in self._seen:
            return
        self._seen.add(("warning", text + message))
        line, column = self.positions.locate(path, key=on_key)
        self.warnings.append(
            Problem(file=self.file, line=line, column=column, path=text, message=message)
        )

    def add_at(self, line: int, column: int, path: PathKey, message: str) -> None:
        """Record a problem at an explicit 1-based position (YAML-level faults)."""
        self.problems.append(
            Problem(
                file=self.file, line=line, column=column, path=format_path(path), message=message
            )
        )

    def sorted(self) -> list[Problem]:
        return sorted(self.problems, key=lambda p: (p.line, p.column, p.path))

    def sorted_warnings(self) -> list[Problem]:
        return sorted(self.warnings, key=lambda p: (p.line, p.column, p.path))
