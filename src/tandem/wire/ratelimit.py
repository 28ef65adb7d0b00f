"""Logging that cannot flood: a burst allowance per interval, then one summary line.

A hostile or broken host can send us thousands of bad packets a second; the log
must stay readable and the event loop must not spend its time formatting lines.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class RateLimitedLog:
    """Emit at most `burst` records per `interval_s`, counting what was suppressed."""

    def __init__(self, logger: logging.Logger, *, burst: int = 5, interval_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.burst = burst
        self.interval_s = interval_s
        self._clock = clock
        self._window_start = float("-inf")
        self._emitted = 0
        self.suppressed = 0

    def log(self, level: int, msg: str, *args: object, exc_info: bool = False) -> bool:
        """Log unless over budget; returns whether the record was emitted."""
        now = self._clock()
        if now - self._window_start >= self.interval_s:
            if self.suppressed:
                self.logger.log(level, "%d similar messages suppressed in the last %.0f s",
                                self.suppressed, self.interval_s)
            self._window_start = now
            self._emitted = 0
            self.suppressed = 0
        if self._emitted >= self.burst:
            self.suppressed += 1
            return False
        self._emitted += 1
        self.logger.log(level, msg, *args, exc_info=exc_info)
        return True

    def warning(self, msg: str, *args: object) -> bool:
        """`log` at WARNING level."""
        return self.log(logging.WARNING, msg, *args)
