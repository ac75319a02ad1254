"""Run one command as its own process group, streaming its output lines as they come.

Why a process group: a script is usually a shell that starts children. Stopping only the
shell would leave them running (and holding our pipes open), so the command starts in a
new session and every stop — kill, timeout, or leftovers after a normal exit — signals
the whole group: SIGTERM first, SIGKILL for whatever is still there after a short grace.

And when the daemon itself dies (SIGKILL, a crash): the group's leader is started through
`setpriv --pdeathsig KILL` where it exists, so the kernel kills it with the daemon, and the
group is written in the process ledger (`process_ledger.py`), so the next start kills what
the leader left behind.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import signal
import subprocess
import weakref
from collections.abc import Callable, Mapping, Sequence

import anyio
from anyio.abc import ByteReceiveStream, Process

from kestrad.tasks import process_ledger

# How many commands run at once in this process (`worker.processes`): a process costs a
# core and memory, where an in-process task waiting on I/O costs almost nothing, so the
# worker's own slot count is large and this bound is the machine's (`configure_slots`).
_slots = {"limit": 2 * (os.cpu_count() or 1)}
_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def configure_slots(limit: int) -> None:
    """At most `limit` commands run at once; the others wait for a slot before starting."""
    _slots["limit"] = max(limit, 1)
    _gates.clear()


def _gate() -> anyio.Semaphore:
    """The slot semaphore of the running event loop (a loop's primitives stay in it)."""
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = anyio.Semaphore(_slots["limit"])
    return gate


# Seconds between SIGTERM and SIGKILL when stopping a group.
KILL_GRACE = 5.0
# Seconds to wait for the output pipes to close once the command itself has exited; past
# that, leftover background children are holding them and the group is stopped.
DRAIN_AFTER_EXIT = 2.0
# A line longer than this is cut in pieces, so one runaway line cannot fill memory.
MAX_LINE = 1024 * 1024
_CHUNK = 64 * 1024

LineHandler = Callable[[str, bool], None]  # (line, is_stderr)


class CommandNotFound(Exception):
    """The program to run does not exist or is not executable."""


async def run_command(
    argv: Sequence[str],
    *,
    cwd: str,
    env: Mapping[str, str],
    on_line: LineHandler,
    kill_grace: float | None = None,
    outer: Sequence[str] = (),
) -> int:
    """Run `argv`, call `on_line` for every stdout/stderr line, return the exit code.

    `outer`: a prefix that changes the user or the cgroup scope (tasks/runner.py); it
    comes before the parent-death wrapper, which a change of user would clear.
    Cancellation (kill, timeout) stops the whole process group before propagating.
    It waits for one of the `worker.processes` slots first (`configure_slots`).
    """
    async with _gate():
        return await _run_command(
            argv, cwd=cwd, env=env, on_line=on_line, kill_grace=kill_grace, outer=outer
        )


async def _run_command(
    argv: Sequence[str],
    *,
    cwd: str,
    env: Mapping[str, str],
    on_line: LineHandler,
    kill_grace: float | None,
    outer: Sequence[str],
) -> int:
    grace = KILL_GRACE if kill_grace is None else kill_grace
    env = dict(env)
    ledger = process_ledger.current()
    token = ledger.new_token() if ledger is not None else None
    if token is not None:
        env[process_ledger.TOKEN_VARIABLE] = token
    argv = list(argv)
    wrapper = die_with_daemon_prefix()
    if wrapper or outer:
        _check_found(argv[0], env, cwd)  # a wrapper would only say so on stderr
    try:
        process = await anyio.open_process(
            [*outer, *wrapper, *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
    except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
        raise CommandNotFound(f"cannot run `{argv[0]}`: {exc.strerror or exc}") from None
    if ledger is not None and token is not None:
        ledger.record(process.pid, token)
    try:
        await _supervise(process, on_line)
        return process.returncode if process.returncode is not None else -1
    finally:
        with anyio.CancelScope(shield=True):
            await stop_group(process, grace)
            await process.aclose()
            if ledger is not None:
                ledger.forget(process.pid)


@functools.cache
def die_with_daemon_prefix() -> tuple[str, ...]:
    """`setpriv --pdeathsig KILL --` when util-linux's setpriv knows the option, else ()."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return ()
    try:
        usage = subprocess.run(
            [setpriv, "--help"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return (setpriv, "--pdeathsig", "KILL", "--") if "--pdeathsig" in usage else ()


def _check_found(program: str, env: Mapping[str, str], cwd: str) -> None:
    """The error `open_process` would raise for a missing program, before a wrapper hides it."""
    if os.sep in program:
        path = program if os.path.isabs(program) else os.path.join(cwd, program)
        if not os.path.isfile(path):
            raise CommandNotFound(f"cannot run `{program}`: No such file or directory")
        if not os.access(path, os.X_OK):
            raise CommandNotFound(f"cannot run `{program}`: Permission denied")
    elif shutil.which(program, path=env.get("PATH", os.defpath)) is None:
        raise CommandNotFound(f"cannot run `{program}`: No such file or directory")


async def _supervise(process: Process, on_line: LineHandler) -> None:
    """Pump both pipes until they close; stop leftovers that keep them open after exit."""
    async with anyio.create_task_group() as tg:
        done = anyio.Event()
        pending = 2

        async def pump(stream: ByteReceiveStream | None, is_stderr: bool) -> None:
            nonlocal pending
            try:
                if stream is not None:
                    await _pump_lines(stream, lambda line: on_line(line, is_stderr))
            finally:
                pending -= 1
                if pending == 0:
                    done.set()

        tg.start_soon(pump, process.stdout, False)
        tg.start_soon(pump, process.stderr, True)
        await process.wait()
        with anyio.move_on_after(DRAIN_AFTER_EXIT):
            await done.wait()
        if not done.is_set():
            # Background children still hold the pipes: stop them so the pipes close.
            await stop_group(process, 0.5)
            with anyio.move_on_after(1.0):
                await done.wait()
            tg.cancel_scope.cancel()


async def _pump_lines(stream: ByteReceiveStream, emit: Callable[[str], None]) -> None:
    """Split a byte stream into lines (without their end of line) as chunks arrive."""
    pending = b""
    while True:
        try:
            chunk = await stream.receive(_CHUNK)
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            break
        pending += chunk
        start = 0
        while True:
            end = pending.find(b"\n", start)
            if end < 0:
                break
            emit(_decode(pending[start:end]))
            start = end + 1
        pending = pending[start:]
        while len(pending) > MAX_LINE:
            emit(_decode(pending[:MAX_LINE]))
            pending = pending[MAX_LINE:]
    if pending:
        emit(_decode(pending))


def _decode(raw: bytes) -> str:
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    return raw.decode("utf-8", errors="replace")


async def stop_group(process: Process, grace: float) -> None:
    """SIGTERM the process group, SIGKILL it after `grace`; return once it is gone.

    The group id is the leader's pid (new session). It stays reserved while any member
    lives, so signalling it after the leader exited still reaches only our children.
    """
    pgid = process.pid
    if not _signal_group(pgid, signal.SIGTERM):
        await _reap(process)
        return
    with anyio.move_on_after(grace):
        await _reap(process)
        while _group_alive(pgid):
            await anyio.sleep(0.05)
    if _signal_group(pgid, signal.SIGKILL):
        with anyio.move_on_after(2.0):
            await _reap(process)
            while _group_alive(pgid):
                await anyio.sleep(0.02)


async def _reap(process: Process) -> None:
    if process.returncode is None:
        await process.wait()


def _signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to the group; False when no process of the group is left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs; zombies do not count.

    Orphans are reparented to init, which may reap them late: waiting for their zombies
    to disappear would only add to every stop the time init takes to notice them.
    """
    if not _signal_group(pgid, 0):
        return False
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True  # no /proc: trust the signal check
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # After the command name: state, ppid, pgrp.
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != b"Z":
            return True
    return False


def describe_signal(code: int) -> str:
    """`-9` → `SIGKILL`, for messages about a command ended by a signal."""
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"
