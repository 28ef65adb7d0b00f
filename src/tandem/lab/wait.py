"""The one bounded wait of the lab, its tests and its benchmarks: poll until something
holds, or fail naming what never came.

Every wait in a lab is bounded in time (a cell that never comes back must not hang a
test run or a campaign), and a timeout says what was awaited, in one line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from tandem.lab.proc import LabError

T = TypeVar("T")


class WaitTimeout(LabError, AssertionError):
    """What was awaited did not come in time. A LabError (the bench scripts print it as
    one line) and an AssertionError (a test that times out fails, it does not error)."""


def wait_for(predicate: Callable[[], T | None], timeout: float, what: str, *,
             interval: float = 0.05) -> T:
    """Call `predicate` every `interval` seconds until it returns something truthy, and
    return that; WaitTimeout naming `what` after `timeout` seconds. The predicate is
    always called at least once, and once more at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(max(0.0, min(interval, deadline - time.monotonic())))
