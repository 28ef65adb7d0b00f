"""Telling systemd how tandemd is doing (the sd_notify protocol): READY once the node has
joined or waits for its peers, STATUS lines, STOPPING, and the watchdog.

The watchdog is fed from the engine's loop (after each cycle), never from a thread of its
own: a loop that is stuck stops feeding it, and systemd kills and restarts tandemd (the
unit says what to do). Meanwhile the heartbeat process stops beating too, because the
engine no longer feeds the shared page, so the peers see a failed node and fence it.

Without NOTIFY_SOCKET (not started by systemd) every call does nothing. The protocol is a
datagram of `KEY=VALUE` lines to a Unix socket; an address starting with `@` is abstract.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger("tandemd")


class SystemdNotifier:
    """sd_notify for one process; a missing or broken socket is logged once, not raised."""

    def __init__(self, env: Mapping[str, str] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        env = os.environ if env is None else env
        self.address = env.get("NOTIFY_SOCKET", "")
        self.watchdog_s = _watchdog_interval(env)
        self.clock = clock
        self._last_feed: float | None = None
        self._failed = False

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, *fields: str) -> bool:
        """Send `KEY=VALUE` fields in one datagram; False if not sent."""
        if not self.address or self._failed:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto("\n".join(fields).encode(), target)
        except OSError as exc:
            self._failed = True
            log.warning("cannot notify systemd at %s: %s", self.address, exc)
            return False
        return True

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}")

    def status(self, text: str) -> None:
        self.send(f"STATUS={text}")

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=leaving the cell")

    def feed(self) -> None:
        """WATCHDOG=1, at most twice per watchdog interval (systemd's advice)."""
        if self.watchdog_s is None:
            return
        now = self.clock()
        if self._last_feed is not None and now - self._last_feed < self.watchdog_s / 2:
            return
        if self.send("WATCHDOG=1"):
            self._last_feed = now


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    """WatchdogSec in seconds, if systemd set it for this very process."""
    usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 1_000_000
