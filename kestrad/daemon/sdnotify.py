"""sd_notify(3) by hand: readiness, status, watchdog and reload notices for systemd.

The protocol is a few `KEY=VALUE` lines in one AF_UNIX datagram to `$NOTIFY_SOCKET`;
systemd documents it as stable and meant to be reimplemented, so this avoids libsystemd
and its C build. Without `NOTIFY_SOCKET` every call is a no-op, so the daemon runs the
same in a terminal, a container or a test.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping, MutableMapping

log = logging.getLogger("kestrad.sdnotify")

_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


class Notifier:
    """Sends notices to the service manager named by the environment, if any."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        self.address = _address(environ.get("NOTIFY_SOCKET", ""))
        self.watchdog_interval = _watchdog_interval(environ)
        self._socket: socket.socket | None = None
        self._warned = False

    @classmethod
    def from_environment(cls, environ: MutableMapping[str, str] | None = None) -> Notifier:
        """Read the variables, then remove them so task subprocesses cannot notify for us."""
        environ = os.environ if environ is None else environ
        notifier = cls(environ)
        for name in _VARIABLES:
            environ.pop(name, None)
        return notifier

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *lines: str) -> None:
        """Send the lines as ONE datagram (systemd reads fields of a notice together)."""
        if self.address is None:
            return
        try:
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                )
                self._socket.setblocking(False)
            self._socket.sendto("\n".join(lines).encode(), self.address)
        except OSError as exc:
            # A lost notice must not stop the daemon; say so once, not at every ping.
            if not self._warned:
                self._warned = True
                log.warning("cannot notify the service manager: %s", exc)

    def ready(self, status: str | None = None) -> None:
        self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> None:
        self.notify(f"STATUS={_one_line(text)}")

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> None:
        self.notify("STOPPING=1", *([f"STATUS={_one_line(status)}"] if status else []))

    def reloading(self) -> None:
        """RELOADING=1 and MONOTONIC_USEC in the same datagram, as Type=notify-reload needs."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _address(value: str) -> str | bytes | None:
    """`/run/systemd/notify` as is; `@name` is the abstract namespace (leading NUL byte)."""
    if not value:
        return None
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    log.warning("ignoring NOTIFY_SOCKET=%s: neither a path nor an @abstract name", value)
    return None


def _watchdog_interval(environ: Mapping[str, str]) -> float | None:
    """Half of WATCHDOG_USEC in seconds, when the watchdog is meant for this process."""
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec) / 2_000_000


def _one_line(text: str) -> str:
    return " ".join(text.split())
