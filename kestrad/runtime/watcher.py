"""The flows folder, synced one way into the store: files → database, never back.

A full reconcile runs at start and on SIGHUP (scan, compare each file's content hash with
what the store holds for that path, apply); `watchfiles` events drive it in between, and a
slow periodic rescan heals events the OS never delivered. Whatever the event kind, every
path named in a batch is simply read again: editors save by rename, so "modified" is rare
and kinds lie.

Rules:
- Identity is `namespace` + `id` from the YAML; the file name only locates it, so moving
  a file keeps the flow and its revision.
- A file that does not load keeps the flow's last good revision running; its problems are
  logged once per content (not at every event), with file:line:col, and stored for the
  readers of every process (runtime/file_problems.py).
- Removing a file disables its flow (and so its triggers); putting it back enables it.
- Two files declaring one flow: the file already serving it wins, the other is refused
  with an error naming both; it takes over if the first goes away.
"""

from __future__ import annotations

import bisect
import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import msgspec
from watchfiles import DefaultFilter, awatch

from kestrad.flows.loader import (
    FLOW_SUFFIXES,
    FlowLoadError,
    Problem,
    iter_flow_files,
    load_warnings,
)
from kestrad.runtime.flow_cache import source_digest
from kestrad.store.base import FlowRow

if TYPE_CHECKING:
    from kestrad.runtime.engine import Engine

log = logging.getLogger("kestrad.flows")

FlowName = tuple[str, str]


class FolderGone(RuntimeError):
    """The watched folder itself disappeared."""


class FlowFilter(DefaultFilter):
    """DefaultFilter (VCS folders, editor swap files…) minus hidden paths under the root.

    Paths without a flow suffix pass too: they may be folders moved in or out, whose
    files are then looked up.
    """

    def __init__(self, root: str) -> None:
        super().__init__()
        self.root = root

    def __call__(self, change: object, path: str) -> bool:
        return super().__call__(change, path) and not _hidden(self.root, path)


class FlowSync:
    """Keeps the store's flows equal to the YAML files under one folder."""

    def __init__(
        self, engine: Engine, root: str | os.PathLike[str], *, max_file_size: int | None = None
    ) -> None:
        """`max_file_size`: bytes; a bigger file is refused (default: flows.max_file_size)."""
        self.engine = engine
        self.root = str(Path(root).resolve())
        self.max_file_size = max_file_size or engine.config.flows.max_file_size
        # The state of each path this process has handled; it mirrors what it wrote to
        # the store, and is rebuilt from the store by a full reconcile.
        self._seen: dict[str, str] = {}  # path → digest of the content last handled
        self._declares: dict[str, FlowName] = {}  # path → flow it serves
        self._owner: dict[FlowName, str] = {}  # flow → path serving it
        self._refused: dict[str, FlowName] = {}  # path → flow another path already serves
        # path → problems of its current content, cleared when the file loads again or
        # goes away; written to the store after each batch, where readers (UI, API) of
        # every process find them (runtime/file_problems.py).
        self._broken = engine.file_problems.folder(self.root)
        self._stats: dict[str, tuple[int, int]] = {}  # path → (mtime_ns, size) when last read
        self._lock = anyio.Lock()
        self.listeners: list[Callable[[FlowRow], None]] = []

    # -- counts for status lines ------------------------------------------------------------
    @property
    def flow_count(self) -> int:
        return len(self._owner)

    @property
    def problem_count(self) -> int:
        return len(self._broken) + len(self._refused)

    # -- entry points -----------------------------------------------------------------------
    async def reconcile(self, *, from_store: bool = True) -> None:
        """Scan the whole folder and apply every difference.

        `from_store` first rebuilds the picture from the store and reads every file (at
        start and on SIGHUP). Without it (periodic rescans) files whose modification time
        and size did not change are not read again, and problems already reported are not
        reported again.
        """
        async with self._lock:
            if from_store:
                stale = await self._load_from_store()
            else:
                stale = []
            found = await anyio.to_thread.run_sync(iter_flow_files, self.root)
            present = [str(p) for p in found]
            for path in present:
                await self._sync_guarded(path, quick=not from_store)
            missing = set(self._declares) | set(self._seen)
            for path in sorted(missing.difference(present)):
                await self._sync_guarded(path)
            for name in stale:
                if name not in self._owner:
                    await self._disable(name, "its file now declares another flow")
            # Stored when changed; at start and on SIGHUP whatever the store held, so rows
            # an earlier run left for files since fixed or removed go.
            await self._broken.write(full=from_store)
        if not from_store:
            return
        log.info(
            "flows: %d flow(s) from %s%s",
            self.flow_count,
            self.root,
            f", {self.problem_count} file(s) with problems" if self.problem_count else "",
        )

    async def sync_paths(self, changed: Iterable[str]) -> None:
        """Read again every flow file named (or under a folder named) in one batch."""
        async with self._lock:
            paths = self._expand(changed)
            present = sorted(p for p in paths if os.path.isfile(p))
            gone = sorted(paths.difference(present))
            # Files that exist first: a file moved within the batch is then found under its
            # new name before its old name is seen gone, and its flow is never disabled.
            for path in [*present, *gone]:
                await self._sync_guarded(path)
            await self._broken.write()

    async def watch(
        self,
        *,
        force_polling: bool = False,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Follow file events until cancelled; `started` once the OS watch is in place."""
        watching = anyio.Event()
        # awatch waits for changes in a thread that anyio cannot interrupt: cancelling it
        # alone takes up to 5 s (its Rust timeout). Setting this event ends the wait at
        # the next 50 ms step, so the daemon stops promptly.
        stop = threading.Event()

        async def follow() -> None:
            stream = awatch(
                self.root,
                watch_filter=FlowFilter(self.root),
                debounce=400,
                step=50,
                stop_event=stop,
                force_polling=force_polling or None,
                recursive=True,
                ignore_permission_denied=True,
            )
            # awatch opens the OS watch in the first step of its generator, before its
            # first wait: once `follow` yields to the loop, nothing is missed any more.
            watching.set()
            async for changes in stream:
                self._check_root()
                await self.sync_paths(path for _, path in changes)
            if not stop.is_set():
                raise RuntimeError(f"watching {self.root} ended by itself")

        async with anyio.create_task_group() as tg:
            tg.start_soon(follow)
            await watching.wait()
            task_status.started()
            try:
                await anyio.sleep_forever()
            finally:
                stop.set()

    async def rescan_every(self, interval: float) -> None:
        """Periodic self-healing rescan (missed events on network file systems)."""
        while True:
            await anyio.sleep(interval)
            self._check_root()
            await self.reconcile(from_store=False)

    def _check_root(self) -> None:
        """The OS watch dies with its folder, silently: better to stop loudly (and be
        restarted) than to run on with a folder nobody watches."""
        if not os.path.isdir(self.root):
            raise FolderGone(f"the flows folder {self.root} was removed (flows.path)")

    # -- one path ---------------------------------------------------------------------------
    async def _sync_guarded(self, path: str, *, quick: bool = False) -> None:
        """Sync one path; a store failure is logged and retried at the next event or scan."""
        try:
            await self._sync(path, quick=quick)
        except Exception:
            self._seen.pop(path, None)
            self._stats.pop(path, None)
            log.exception("flows: could not sync %s; will retry", path)

    async def _sync(self, path: str, *, quick: bool = False) -> None:
        try:
            stat = os.stat(path)
            if quick and self._stats.get(path) == (stat.st_mtime_ns, stat.st_size):
                return
            self._stats[path] = (stat.st_mtime_ns, stat.st_size)
            source = await anyio.to_thread.run_sync(_read_capped, path, self.max_file_size)
        except (FileNotFoundError, NotADirectoryError):
            await self._gone(path)
            return
        except IsADirectoryError:
            return
        except TooBig as exc:
            problem = Problem(file=path, line=1, column=1, path="", message=str(exc))
            self._handle_broken(path, f"too-big:{stat.st_mtime_ns}:{stat.st_size}", [problem])
            return
        except (OSError, UnicodeDecodeError) as exc:
            problem = Problem(file=path, line=1, column=1, path="", message=f"cannot read: {exc}")
            self._handle_broken(path, f"unreadable:{exc}", [problem])
            return
        digest = source_digest(source)
        if self._seen.get(path) == digest:
            return
        try:
            flow = await self.engine.flows.load_source(source, path)  # in a thread: see FlowCache
        except FlowLoadError as exc:
            self._handle_broken(path, digest, exc.problems)
            return
        self._seen[path] = digest
        self._broken.discard(path)
        for warning in load_warnings(flow):
            log.warning("flows: %s", warning)
        name = (flow.namespace, flow.id)
        owner = self._owner.get(name)
        if owner is not None and owner != path and os.path.exists(owner):
            await self._refuse(path, name, owner)
            return
        self._refused.pop(path, None)
        previous = self._declares.get(path)
        before = self.engine.flows.latest_row(*name)
        await self.engine.deploy_source(source, file=path, parsed=flow)
        if owner is not None and owner != path:
            self._declares.pop(owner, None)
        self._declares[path] = name
        self._owner[name] = path
        after = self.engine.flows.latest_row(*name)
        if after is not None:
            self._log_deployed(name, path, before, after)
            self._changed(after)
        if previous is not None and previous != name:
            await self._release(path, previous, f"{path} now declares {_fmt(name)}")

    def _handle_broken(self, path: str, digest: str, problems: list[Problem]) -> None:
        if self._seen.get(path) == digest:
            return
        self._seen[path] = digest
        self._broken.set(path, problems)
        name = self._declares.get(path)
        if name is not None:
            row = self.engine.flows.latest_row(*name)
            keeping = f"keeping revision {row.revision} of {_fmt(name)}" if row else "kept"
        else:
            keeping = "no flow loaded from it"
        details = "\n".join(f"  {problem}" for problem in problems)
        log.error("flows: %s not loaded (%s):\n%s", path, keeping, details)

    async def _refuse(self, path: str, name: FlowName, owner: str) -> None:
        self._refused[path] = name
        log.error(
            "flows: %s declares %s, already declared by %s: refused (two files cannot "
            "declare the same flow; rename or remove one)",
            path,
            _fmt(name),
            owner,
        )
        previous = self._declares.get(path)
        if previous is not None and previous != name:
            await self._release(path, previous, f"{path} now declares {_fmt(name)}")

    async def _gone(self, path: str) -> None:
        if path not in self._seen and path not in self._declares:
            return
        self._seen.pop(path, None)
        self._stats.pop(path, None)
        self._refused.pop(path, None)
        self._broken.discard(path)
        name = self._declares.get(path)
        if name is not None:
            await self._release(path, name, f"{path} was removed")

    async def _release(self, path: str, name: FlowName, reason: str) -> None:
        """`path` no longer serves `name`: a refused duplicate takes over, else disable."""
        if self._declares.get(path) == name:
            del self._declares[path]
        if self._owner.get(name) != path:
            return
        del self._owner[name]
        for other, wanted in sorted(self._refused.items()):
            if wanted == name:
                del self._refused[other]
                self._seen.pop(other, None)
                await self._sync(other)
                if name in self._owner:
                    return
        await self._disable(name, reason)

    async def _disable(self, name: FlowName, reason: str) -> None:
        row = await self.engine.store.get_flow(*name)
        if row is None or row.disabled or row.deleted:
            return
        await self.engine.store.set_flow_flags(row, disabled=True, deleted=False)
        row = msgspec.structs.replace(row, disabled=True)
        self.engine.flows.remember(row)
        log.info("flows: %s disabled: %s", _fmt(name), reason)
        self._changed(row)

    # -- helpers ----------------------------------------------------------------------------
    async def _load_from_store(self) -> list[FlowName]:
        """Rebuild the picture from the store's latest revisions of this folder's flows.

        Returns flows whose stored file is already taken by another flow (that file was
        edited to declare something else while the daemon was down): disabled unless a
        file still declares them.
        """
        self._seen.clear()
        self._declares.clear()
        self._owner.clear()
        self._refused.clear()
        self._broken.clear()
        self._stats.clear()
        stale: list[FlowName] = []
        prefix = self.root + os.sep
        for row in await self.engine.store.list_flows():
            if not row.file or not row.file.startswith(prefix) or row.disabled or row.deleted:
                continue
            name = (row.namespace, row.id)
            if row.file in self._declares:
                stale.append(name)
                continue
            self._declares[row.file] = name
            self._owner[name] = row.file
            self._seen[row.file] = row.hash
        return stale

    def _expand(self, changed: Iterable[str]) -> set[str]:
        """Flow files named in a batch, plus those inside folders it names (moved or removed)."""
        known = sorted(set(self._seen) | set(self._declares) | set(self._refused))
        out: set[str] = set()
        for raw in changed:
            path = os.path.abspath(raw)
            if not path.startswith(self.root + os.sep) or _hidden(self.root, path):
                continue
            if path.endswith(FLOW_SUFFIXES):
                out.add(path)
            if os.path.isdir(path):
                out.update(str(p) for p in iter_flow_files(path))
            prefix = path + os.sep
            start = bisect.bisect_left(known, prefix)
            for candidate in known[start:]:
                if not candidate.startswith(prefix):
                    break
                out.add(candidate)
        return out

    def _log_deployed(
        self, name: FlowName, path: str, before: FlowRow | None, after: FlowRow
    ) -> None:
        if before is None or before.revision != after.revision:
            log.info("flows: %s revision %d from %s", _fmt(name), after.revision, path)
        elif before.disabled or before.deleted:
            log.info("flows: %s enabled again (%s)", _fmt(name), path)
        elif before.file != path:
            log.info("flows: %s now read from %s (was %s)", _fmt(name), path, before.file)

    def _changed(self, row: FlowRow) -> None:
        for listener in list(self.listeners):
            listener(row)


def _fmt(name: FlowName) -> str:
    return f"{name[0]}/{name[1]}"


class TooBig(OSError):
    """A flow file over `flows.max_file_size`."""


def _read_capped(path: str, limit: int) -> str:
    """The file's text, refused past `limit` bytes (read at most limit + 1: a file growing
    after its stat is caught too)."""
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
        size = max(os.fstat(handle.fileno()).st_size, len(data))
    if len(data) > limit:
        raise TooBig(
            f"the file is {size} bytes, over flows.max_file_size ({limit} bytes): not loaded"
        )
    return data.decode("utf-8")


def _hidden(root: str, path: str) -> bool:
    """A file or folder under the root whose name starts with a dot (skipped by scans too)."""
    relative = os.path.relpath(path, root)
    return any(part.startswith(".") and part not in (".", "..") for part in relative.split(os.sep))
