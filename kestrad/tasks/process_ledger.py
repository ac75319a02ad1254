"""A ledger of the process groups this daemon started, so the next start can end them.

Why: a task's command runs in its own process group (see `process.py`). When the daemon
is killed with SIGKILL it cannot stop them; the group's leader gets SIGKILL from the kernel
(`PR_SET_PDEATHSIG`, set by `setpriv` when it is installed), but its children — the
`sleep` of a shell script, a server it started — go on, and would do their side effects at
the same time as the task's next attempt. So each group is written down while it runs:

    <root>/<instance id>/owner     host, pid and start time of the daemon
    <root>/<instance id>/<pgid>    the token its processes carry in their environment

At start, `reap_dead` looks at the other instances' folders: one whose owner process is
gone (same host, no process with that pid and start time) had its groups orphaned. A
process is killed only if it is in a recorded group *and* its environment carries the
recorded token, so a recycled pid or group id is never touched.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import time
from pathlib import Path

import msgspec

# The environment variable every process of a task's group inherits.
TOKEN_VARIABLE = "KESTRAD_TASK_GROUP"
# A folder without its owner file is left alone this long (a daemon may be creating it).
UNOWNED_GRACE = 60.0

_current: ProcessLedger | None = None


class Owner(msgspec.Struct):
    host: str
    pid: int
    start_time: int  # clock ticks since boot (/proc/<pid>/stat field 22); 0 if unknown


class Reaped(msgspec.Struct):
    """Processes of a dead instance's group that were still running, now killed."""

    instance_id: str
    pgid: int
    pids: list[int]


class ProcessLedger:
    """This daemon's folder in the ledger; one file per live process group."""

    def __init__(self, root: str | Path, instance_id: str) -> None:
        self.root = Path(root)
        self.folder = self.root / instance_id

    def open(self) -> ProcessLedger:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.folder.mkdir(mode=0o700, exist_ok=True)
        owner = Owner(host=socket.gethostname(), pid=os.getpid(), start_time=_start_time(0))
        (self.folder / "owner").write_bytes(msgspec.json.encode(owner))
        return self

    def new_token(self) -> str:
        return secrets.token_hex(12)

    def record(self, pgid: int, token: str) -> None:
        """Best effort: a ledger that cannot be written must not fail the task."""
        with contextlib.suppress(OSError):
            (self.folder / str(pgid)).write_text(token)

    def forget(self, pgid: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.folder / str(pgid)).unlink()

    def close(self) -> None:
        """A clean stop: every group was stopped by its task, nothing is left to reap."""
        shutil.rmtree(self.folder, ignore_errors=True)


def set_current(ledger: ProcessLedger | None) -> None:
    """The ledger commands started in this process record their groups in (None: none)."""
    global _current
    _current = ledger


def current() -> ProcessLedger | None:
    return _current


def reap_dead(root: str | Path, own_id: str) -> list[Reaped]:
    """Kill what is left of the process groups of dead instances of this host, and drop
    their folders. Returns what was killed (for the daemon's log)."""
    root = Path(root)
    if not root.is_dir():
        return []
    host = socket.gethostname()
    reaped: list[Reaped] = []
    for folder in sorted(root.iterdir()):
        if folder.name == own_id or not folder.is_dir():
            continue
        owner = _owner(folder)
        if owner is not None and (owner.host != host or _alive(owner)):
            continue  # another machine's, or a daemon still running here
        if owner is None and _age(folder) < UNOWNED_GRACE:
            continue
        for entry in folder.iterdir():
            if not entry.name.isdigit():
                continue
            pgid = int(entry.name)
            with contextlib.suppress(OSError):
                pids = _kill_group(pgid, entry.read_text().strip())
                if pids:
                    reaped.append(Reaped(instance_id=folder.name, pgid=pgid, pids=pids))
        shutil.rmtree(folder, ignore_errors=True)
    return reaped


def _owner(folder: Path) -> Owner | None:
    try:
        return msgspec.json.decode((folder / "owner").read_bytes(), type=Owner)
    except (OSError, msgspec.DecodeError):
        return None


def _age(folder: Path) -> float:
    try:
        return time.time() - folder.stat().st_mtime
    except OSError:
        return 0.0


def _alive(owner: Owner) -> bool:
    started = _start_time(owner.pid)
    return started is not None and (owner.start_time == 0 or started == owner.start_time)


def _start_time(pid: int) -> int | None:
    """A process's start time in clock ticks since boot, None if there is no such process
    (pid 0: this process)."""
    path = f"/proc/{pid or 'self'}/stat"
    try:
        with open(path, "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return int(fields[19])  # field 22 of stat, counted after the command name
    except (OSError, IndexError, ValueError):
        return None if pid else 0


def _kill_group(pgid: int, token: str) -> list[int]:
    """SIGKILL every process of group `pgid` whose environment carries `token`."""
    if not token:
        return []
    marker = f"{TOKEN_VARIABLE}={token}".encode()
    killed = []
    for pid in _group_members(pgid):
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                environ = handle.read().split(b"\0")
        except OSError:
            continue
        if marker in environ:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
    return killed


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != b"Z":
            members.append(int(entry))
    return members
