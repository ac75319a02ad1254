"""jq for expressions, run where it can read nothing of the daemon and cost nothing of it.

Why a separate process and not a block list: libjq's builtins read the process (`env`,
`$ENV`, `input_filename`, `import`/`include` from the file system), and a pattern over the
filter text cannot see everything jq evaluates (string interpolations run code inside
string literals: `"\\(env|keys)"`). A worker started with an empty environment, an empty
working directory and no HOME has no secret to hand out, whatever the filter says. It also
puts a bound on jq that an in-process call cannot have: a runaway program
(`[limit(100000000; repeat(1))]`) is stopped by the timeout (the worker is killed and a
new one started on the next call) or by the worker's capped address space, and the render
fails with a clear message instead of blocking the event loop for minutes.

One worker per process, started on first use, shared by every render under a lock (renders
are synchronous and short); a call costs a pipe round trip (tens of microseconds) plus the
JSON of its input and results.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

_WORKER = Path(__file__).with_name("jq_worker.py")
_HEADER = struct.Struct(">I")
# Address space of the worker: generous for real JSON documents, small enough that a
# program building a huge array fails in the worker instead of swapping the host.
DEFAULT_MEMORY_BYTES = 512 * 1024 * 1024
DEFAULT_TIMEOUT = 2.0  # seconds, as the renderer's own time budget


class JqError(ValueError):
    """jq failed on the input; the message is jq's own."""


class JqCompileError(JqError):
    """jq refused the program itself (a syntax error, an unknown function or module)."""


class JqLimitExceeded(JqError):
    """The program ran past the time or memory bound and its worker was stopped."""


class JqSandbox:
    """A jq worker process, (re)started on demand; `run` is thread-safe."""

    def __init__(
        self, *, timeout: float = DEFAULT_TIMEOUT, memory_bytes: int = DEFAULT_MEMORY_BYTES
    ) -> None:
        self.timeout = timeout
        self.memory_bytes = memory_bytes
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._folder: tempfile.TemporaryDirectory[str] | None = None

    def run(self, program: str, input_text: str) -> list[Any]:
        """Every result of `program` over the JSON text `input_text`."""
        request = json.dumps({"p": program, "i": input_text}).encode()
        with self._lock:
            process = self._ensure_started()
            assert process.stdin is not None
            try:
                process.stdin.write(_HEADER.pack(len(request)) + request)
                process.stdin.flush()
                answer = self._read_answer(process)
            except (OSError, ValueError) as exc:
                self._stop()
                raise JqLimitExceeded(
                    f"jq stopped: the program ran out of memory or crashed ({exc})"
                ) from None
        if "err" in answer:
            error = JqCompileError if answer.get("compile") else JqError
            raise error(str(answer["err"]))
        return list(answer["ok"])

    def close(self) -> None:
        with self._lock:
            self._stop()

    # -- the worker -----------------------------------------------------------------------
    def _ensure_started(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self._stop()
        self._folder = tempfile.TemporaryDirectory(prefix="kestrad-jq-")
        self._process = subprocess.Popen(
            [sys.executable, "-I", str(_WORKER), str(self.memory_bytes), str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # jq's `debug`/`stderr` go nowhere
            env={},
            cwd=self._folder.name,
            close_fds=True,
        )
        return self._process

    def _read_answer(self, process: subprocess.Popen[bytes]) -> dict[str, Any]:
        """The next frame, or JqLimitExceeded once `timeout` passes (the worker is killed)."""
        assert process.stdout is not None
        fd = process.stdout.fileno()
        timer = threading.Timer(self.timeout, process.kill)
        timer.start()
        try:
            header = _read_exactly(fd, _HEADER.size)
            body = _read_exactly(fd, _HEADER.unpack(header)[0]) if header else None
        finally:
            timer.cancel()
        if header is None or body is None:
            killed = process.poll() is not None and process.returncode == -9
            self._stop()
            if killed:
                raise JqLimitExceeded(f"jq stopped after its time limit of {self.timeout:g}s")
            raise JqLimitExceeded("jq stopped: the program ran out of memory or crashed")
        return dict(json.loads(body))

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            with contextlib.suppress(OSError):
                process.kill()
            with contextlib.suppress(Exception):
                process.wait(timeout=5)
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        folder, self._folder = self._folder, None
        if folder is not None:
            folder.cleanup()


def _read_exactly(fd: int, size: int) -> bytes | None:
    """`size` bytes from a pipe, or None at end of file (the worker died)."""
    chunks: list[bytes] = []
    left = size
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


_default: JqSandbox | None = None
_default_lock = threading.Lock()


def default_sandbox() -> JqSandbox:
    """The process's shared worker (started on the first jq call, not at import)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = JqSandbox()
        return _default
