"""The daemon's two clocks, passed in so that tests can drive whole cycles in fake time.

`monotonic()` orders what happens on this node (node states, fencing retries, timeouts);
`time()` is wall-clock time, for what travels between nodes (service reports, restart
windows) and for people.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...
    def time(self) -> float: ...


class RealClock:
    """The system's clocks."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()
