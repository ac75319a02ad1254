"""Daemon logs on stderr, in the shape the reader on the other end wants.

Under systemd, journald stamps every line itself and reads a `<N>` prefix as the syslog
priority, but it splits entries at newlines: there each record is one line, priority
first, no timestamp, newlines escaped. Anywhere else (a terminal, a container log) each
record is `time level logger message`, tracebacks as they are.

Only the daemon's own logs go here; task logs go to the store (see the `logs` command).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping
from typing import TextIO

_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}
_HANDLER_NAME = "kestrad-stderr"


def journal_connected(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """True when `stream` is the journal stream systemd announced in JOURNAL_STREAM.

    The variable is inherited by children whose stderr may be redirected elsewhere, so it
    is compared with the device and inode of the stream itself.
    """
    environ = os.environ if environ is None else environ
    announced = environ.get("JOURNAL_STREAM", "")
    device, _, inode = announced.partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        stat = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (stat.st_dev, stat.st_ino) == (int(device), int(inode))


class JournalFormatter(logging.Formatter):
    """`<6>kestrad.daemon message`: one line per record, journald adds the time."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        priority = _PRIORITY.get(record.levelno) or _nearest_priority(record.levelno)
        escaped = text.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")
        return f"<{priority}>{escaped}"


class TextFormatter(logging.Formatter):
    """`2025-01-31T12:00:00.123Z INFO  kestrad.daemon message` (UTC, like task logs)."""

    converter = time.gmtime

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"


def _nearest_priority(levelno: int) -> int:
    for level in sorted(_PRIORITY, reverse=True):
        if levelno >= level:
            return _PRIORITY[level]
    return 7


def setup_logging(level: str, stream: TextIO | None = None, *, with_pid: bool = False) -> bool:
    """Send every log record to `stream` (stderr); returns True in journal mode.

    `with_pid`: a daemon of several processes writes the process id after the level, so
    interleaved lines can be told apart (journald records it by itself).
    Replaces any handler installed before, so calling it twice is harmless.
    """
    stream = stream or sys.stderr
    journal = journal_connected(stream)
    handler = logging.StreamHandler(stream)
    handler.set_name(_HANDLER_NAME)
    if journal:
        handler.setFormatter(JournalFormatter("%(name)s %(message)s"))
    else:
        pid = "[%(process)d] " if with_pid else ""
        handler.setFormatter(
            TextFormatter(f"%(asctime)s %(levelname)-7s {pid}%(name)s %(message)s")
        )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    set_level(level)
    # watchfiles logs every batch of changes at INFO; the flows sync logs what it does.
    logging.getLogger("watchfiles").setLevel(logging.WARNING)
    logging.captureWarnings(True)
    return journal


def set_level(level: str) -> None:
    """The configured level (WARN is accepted for WARNING, as task logs spell it)."""
    name = level.upper()
    if name == "WARN":
        name = "WARNING"
    logging.getLogger().setLevel(name)
