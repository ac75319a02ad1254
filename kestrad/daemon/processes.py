"""`kestrad serve --processes N`: one daemon as N processes, one GIL each.

A daemon's Python runs under one GIL, so one process uses one core however many it has.
The first process (the one systemd or a shell started) binds the port, migrates the
database, reconciles the flows folder and holds the scheduler; then it starts N-1 more
`kestrad serve` processes of its own. They inherit the listening socket (the kernel hands
each connection to one of them), open the same database and run the executor, the
worker and the HTTP API: several daemons on one database, as on PostgreSQL, with
SQLite's writes serialized by the store's write lock.

The first process owns the others' lives; they are never left running alone:
- they get no signal of their own: terminal signals and systemd's stop go to the first
  (their own session; `KillMode=mixed`), which speaks to them over their stdin, one word
  a line: `stop` (drain, like a SIGTERM), `force` (a second signal), `reload` (SIGHUP);
  end of input is `stop`;
- they die with it (`PR_SET_PDEATHSIG`), kill -9 included: their claimed jobs are handed
  out again at the next start, like any dead daemon's;
- one of them ending unexpectedly stops the whole daemon with status 1, so systemd
  restarts all of it rather than a daemon running at a fraction of itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence

import anyio
import anyio.abc

log = logging.getLogger("kestrad.daemon")

# Environment the others must not inherit: systemd's notify socket and watchdog belong to
# the first process (the one systemd started), which alone speaks for the daemon.
_NOT_INHERITED = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID")
_PR_SET_PDEATHSIG = 1
STOP, FORCE, RELOAD = "stop", "force", "reload"


class ProcessEnded(Exception):
    """A process of the daemon ended while it was not stopping (its message says which)."""


def process_count(configured: int) -> int:
    """`server.processes` (or `--processes`): 0 means one per CPU this process may use."""
    if configured > 0:
        return configured
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def roles_of_the_others(roles: Sequence[str]) -> tuple[str, ...]:
    """The roles the other processes take: the first process's, without the scheduler
    (one scheduler per daemon; it fires from the first)."""
    return tuple(role for role in roles if role != "scheduler")


class ProcessGroup:
    """The N-1 processes the first one starts, watches and stops."""

    def __init__(
        self,
        count: int,
        *,
        config_path: str | None,
        roles: Sequence[str],
        listener: socket.socket | None,
    ) -> None:
        self.count = count
        self.config_path = config_path
        self.roles = tuple(roles)
        self.listener = listener
        self.children: list[anyio.abc.Process] = []
        self.stopping = False

    def command(self) -> list[str]:
        command = [sys.executable, "-m", "kestrad", "serve", "--child-of", str(os.getpid())]
        if self.config_path is not None:
            command += ["--config", self.config_path]
        command += ["--roles", ",".join(self.roles), "--processes", "1"]
        if self.listener is not None:
            command += ["--listen-fd", str(self.listener.fileno())]
        return command

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Start the others, then watch them until they have all ended; raise ProcessEnded
        when one ends before `stop`. Cancelled (the daemon failing), it stops them first."""
        env = {key: value for key, value in os.environ.items() if key not in _NOT_INHERITED}
        passed = (self.listener.fileno(),) if self.listener is not None else ()
        try:
            for _ in range(self.count - 1):
                child = await anyio.open_process(
                    self.command(),
                    stdin=subprocess.PIPE,
                    stdout=None,
                    stderr=None,
                    pass_fds=passed,
                    env=env,
                    start_new_session=True,
                )
                self.children.append(child)
            log.info(
                "started %d more process(es): %s",
                len(self.children),
                ", ".join(str(child.pid) for child in self.children),
            )
            task_status.started()
            ended: list[anyio.abc.Process] = []
            async with anyio.create_task_group() as watchers:
                for child in self.children:
                    watchers.start_soon(self._watch, child, ended, watchers.cancel_scope)
            if ended:
                child = ended[0]
                status = _describe_status(child.returncode or 0)
                raise ProcessEnded(f"process {child.pid} of this daemon ended ({status})")
        finally:
            with anyio.CancelScope(shield=True):
                await self._end_all()

    async def _watch(
        self, child: anyio.abc.Process, ended: list[anyio.abc.Process], all_: anyio.CancelScope
    ) -> None:
        """Wait for `child`; one ending while the daemon is not stopping ends the watch."""
        await child.wait()
        if not self.stopping:
            ended.append(child)
            all_.cancel()

    async def stop(self) -> None:
        """Drain and stop: each process finishes its running tasks (its own grace)."""
        self.stopping = True
        await self._tell(STOP)

    async def force(self) -> None:
        """A second stop: each process cancels its running tasks now."""
        self.stopping = True
        await self._tell(FORCE)

    async def reload(self) -> None:
        await self._tell(RELOAD)

    async def wait_ended(self, timeout: float) -> None:
        """Until every process has ended, or `timeout` seconds."""
        with anyio.move_on_after(timeout):
            for child in self.children:
                await child.wait()

    async def _tell(self, word: str) -> None:
        for child in self.children:
            if child.returncode is None and child.stdin is not None:
                with contextlib.suppress(
                    OSError, anyio.BrokenResourceError, anyio.ClosedResourceError
                ):
                    await child.stdin.send(f"{word}\n".encode())

    async def _end_all(self, deadline: float = 10.0) -> None:
        """After the watch: whatever still runs (the daemon failing) is told to stop now,
        and killed past `deadline`."""
        if any(child.returncode is None for child in self.children):
            await self.force()
            await self.wait_ended(deadline)
        for child in self.children:
            if child.returncode is None:
                log.error("process %d did not stop in %.0fs: killing it", child.pid, deadline)
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
                await child.wait()
            if child.stdin is not None:
                with contextlib.suppress(Exception):
                    await child.stdin.aclose()


def _describe_status(status: int) -> str:
    if status < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-status).name}"
        return f"killed by signal {-status}"
    return f"exit status {status}"


# -- in one of the others ---------------------------------------------------------------------
def become_child(parent: int) -> None:
    """Die with the first process, and take no signal of our own: it speaks over stdin.

    PR_SET_PDEATHSIG is asked after the fork, so the first process may already be gone:
    then our parent is no longer `parent` and we leave at once."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)


def read_commands(deliver: Callable[[str], None]) -> None:
    """Read stdin's words in a daemon thread and `deliver` each (from that thread: the
    callback hands it to the loop); end of input is delivered as `stop`."""

    def reader() -> None:
        with contextlib.suppress(OSError, ValueError):
            for line in sys.stdin:
                word = line.strip()
                if word in (STOP, FORCE, RELOAD):
                    deliver(word)
        deliver(STOP)

    threading.Thread(target=reader, name="kestrad-commands", daemon=True).start()
