"""Why flows-folder files do not load, seen alike by every process on a store.

Only the process that syncs a folder (`runtime/watcher.py: FlowSync`) reads its files, so
only it knows their problems; yet the UI and `GET …/flows/file-problems` may be answered
by any process of the daemon (`server.processes`) or by another daemon on its database.
So the sync keeps its folder's set in memory (`FolderProblems`) and writes it to the
store when it changes, and readers ask the store (`FileProblems.current`).

The sync writes the whole set of its folder each time (it changes rarely, and a whole set
leaves nothing behind), and always at start and on SIGHUP, so the rows of files that were
fixed or removed while no daemon watched go away. A set the store refused is written
again at the sync's next batch of paths or rescan.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from kestrad.flows.problems import Problem
from kestrad.store.base import FlowStore

log = logging.getLogger("kestrad.flows")


class FolderProblems:
    """The problems of one folder's files as its sync finds them: path → the problems of
    its current content, until it loads again or goes away."""

    def __init__(self, store: FlowStore, root: str) -> None:
        self.store = store
        self.root = root
        self._current: dict[str, list[Problem]] = {}
        self._written: dict[str, list[Problem]] | None = None  # the stored set; None: unknown
        self.writes = 0  # sets written to the store (each one replaced the folder's rows)

    def __len__(self) -> int:
        return len(self._current)

    def set(self, path: str, problems: Sequence[Problem]) -> None:
        self._current[path] = list(problems)

    def discard(self, path: str) -> None:
        self._current.pop(path, None)

    def clear(self) -> None:
        self._current.clear()

    @property
    def changed(self) -> bool:
        """The set differs from what the store holds (or that is unknown)."""
        return self._written != self._current

    async def write(self, *, full: bool = False) -> bool:
        """Store the set if it changed since the last write; `full` stores it whatever
        was written (a start, a SIGHUP: rows of an earlier run may be stale).

        A failure is logged, not raised: the sync goes on, and the next write tries again.
        True when the store holds the set now."""
        if not full and not self.changed:
            return True
        wanted = {path: list(problems) for path, problems in self._current.items()}
        try:
            await self.store.replace_file_problems(self.root, wanted)
        except Exception:
            self._written = None
            log.exception(
                "flows: could not store the problems of %s's files; will retry", self.root
            )
            return False
        self._written = wanted
        self.writes += 1
        return True


class FileProblems:
    """`Engine.file_problems`: each synced folder's `FolderProblems`, and the readers' view."""

    def __init__(self, store: FlowStore) -> None:
        self.store = store
        self._folders: dict[str, FolderProblems] = {}

    def folder(self, root: str) -> FolderProblems:
        """The set of folder `root` (absolute), kept by that folder's sync."""
        if root not in self._folders:
            self._folders[root] = FolderProblems(self.store, root)
        return self._folders[root]

    async def current(self) -> dict[str, list[Problem]]:
        """Every file with problems now, by path: read from the store, so every process
        answers the same, whichever syncs the folder."""
        return await self.store.file_problems()
