"""The jq worker: runs jq programs for the daemon in a process that has nothing to give.

Started by `jq_sandbox.JqSandbox` as `python -I jq_worker.py` with an empty environment,
an empty working directory and no HOME, so jq's `env`/`$ENV` see nothing, `import` and
`include` find no module, and `input_filename` is null. Once its imports are done it also
lowers its own limits: no file may be written, no new file opened. Time and memory are
bounded from outside (the parent kills it on a timeout; its address space is capped), so
a runaway program (`[limit(1e8; repeat(1))]`) costs this process, never the daemon.

Standalone on purpose: it imports only the standard library and `jq`, never kestrad.

Protocol on stdin/stdout: frames of a 4-byte big-endian length then UTF-8 JSON.
Request `{"p": program, "i": input JSON text}`; answer `{"ok": [results]}`, or
`{"err": message, "compile": true|false}`. End of input ends the process (the daemon went
away). `argv[1]` is the address-space limit in bytes, `argv[2]` the daemon's pid.
"""

import contextlib
import ctypes
import json
import os
import resource
import signal
import struct
import sys
from typing import Any, BinaryIO

import jq

_HEADER = struct.Struct(">I")
_PROGRAMS_KEPT = 256
_PR_SET_PDEATHSIG = 1


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _lock_down(memory_bytes: int) -> None:
    """No environment (the interpreter itself may have set LC_CTYPE), no file written, no
    new file opened, memory capped, from here on."""
    os.environ.clear()  # unsets the C environ too, which is what jq's `env` reads
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (3, 3))


def _die_with(parent: int) -> None:
    """Die with the daemon even in the middle of a runaway program: a kill -9 of the daemon
    closes our stdin, but a program that never returns would never read it. A parent that
    died before the request was made is caught by the parent-pid check."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        sys.exit(0)


def main() -> None:
    _die_with(int(sys.argv[2]))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    programs: dict[str, Any] = {}
    _lock_down(int(sys.argv[1]))
    while True:
        header = _read_exactly(stdin, _HEADER.size)
        if header is None:
            return
        body = _read_exactly(stdin, _HEADER.unpack(header)[0])
        if body is None:
            return
        request = json.loads(body)
        answer: dict[str, Any]
        program = programs.get(request["p"])
        try:
            if program is None:
                if len(programs) >= _PROGRAMS_KEPT:
                    programs.clear()
                program = programs[request["p"]] = jq.compile(request["p"])
        except Exception as exc:  # jq's errors are ValueError
            answer = {"err": str(exc), "compile": True}
        else:
            try:
                answer = {"ok": program.input_text(request["i"]).all()}
            except Exception as exc:  # MemoryError included: answered, not fatal
                answer = {"err": str(exc) or type(exc).__name__, "compile": False}
        try:
            out = json.dumps(answer, ensure_ascii=False, allow_nan=False).encode()
        except ValueError as exc:  # NaN/Infinity results
            out = json.dumps({"err": f"jq result is not JSON: {exc}"}).encode()
        stdout.write(_HEADER.pack(len(out)) + out)
        stdout.flush()


if __name__ == "__main__":
    main()
