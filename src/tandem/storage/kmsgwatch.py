"""The built-in watcher of back-end I/O errors: the kernel's log, read as it is written.

/dev/kmsg gives one record per read; the watch starts at its end (errors from before
the daemon started are history, not news) and hands every I/O error line to a
callback, which decides whether the device is one of a local service's. When the
kernel overwrote records before they were read (EPIPE) the watch counts them as lost
and goes on. Reading is bounded per wake-up so that a storm of messages cannot hold
the engine's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from tandem.system.kernlog import IoError, io_error, parse_record

log = logging.getLogger("tandemd.storage")

KMSG = "/dev/kmsg"
MAX_RECORDS_PER_WAKE = 256
RECORD_MAX = 8192


@dataclass
class WatchCounters:
    """What the watch has seen since it started."""

    records: int = 0
    io_errors: int = 0
    lost: int = 0        # records the kernel overwrote before we read them
    malformed: int = 0
    last_error: str = ""


class KernelLogWatch:
    """Reads the kernel log and reports its I/O errors to `report`."""

    def __init__(self, report: Callable[[IoError], None], path: str = KMSG) -> None:
        self.report = report
        self.path = path
        self.counters = WatchCounters()
        self.running = False

    async def run(self) -> None:
        """Watch until cancelled; returns at once (logged) if the log cannot be read."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            log.warning("kernel log watch off: cannot open %s: %s", self.path, exc)
            return
        loop = asyncio.get_running_loop()
        try:
            with contextlib.suppress(OSError):
                os.lseek(fd, 0, os.SEEK_END)
            loop.add_reader(fd, self._readable, fd)
            self.running = True
            await asyncio.Event().wait()  # until cancelled
        finally:
            self.running = False
            with contextlib.suppress(Exception):
                loop.remove_reader(fd)
            os.close(fd)

    def _readable(self, fd: int) -> None:
        for _ in range(MAX_RECORDS_PER_WAKE):
            try:
                raw = os.read(fd, RECORD_MAX)
            except BlockingIOError:
                return
            except BrokenPipeError:  # overwritten before we read it: next one
                self.counters.lost += 1
                continue
            except OSError as exc:
                log.warning("kernel log read failed: %s", exc)
                return
            if not raw:
                return
            self.feed(raw)

    def feed(self, raw: bytes) -> IoError | None:
        """Take one record; the I/O error it reports, if any (also given to report)."""
        record = parse_record(raw)
        if record is None:
            self.counters.malformed += 1
            return None
        self.counters.records += 1
        error = io_error(record.message)
        if error is None:
            return None
        self.counters.io_errors += 1
        self.counters.last_error = error.message
        try:
            self.report(error)
        except Exception:  # a bug in the consumer must not end the watch
            log.exception("handling a storage error failed")
        return error
