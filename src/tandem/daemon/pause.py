"""The pause guard: a daemon that was not scheduled for a while must not blame its peers.

If the engine's loop did not run for a long time (a hung or overloaded node, a VM pause),
the silence it sees when it wakes up is its own. For one token it judges peers as of the
moment it stopped, so it does not declare healthy peers lost (and fence them) while it
catches up on their messages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger("tandemd.pause")


class PauseGuard:
    """Chooses the moment at which each cycle judges the peers."""

    def __init__(self, token_s: float, on_pause: Callable[[float], None]) -> None:
        self.token_s = token_s
        self._on_pause = on_pause  # told the length of each pause (seconds)
        self._due: float | None = None  # when the loop meant to run the next cycle
        self._paused: tuple[float, float] | None = None  # (judge as of, until)

    def expect(self, due: float) -> None:
        """The loop means to run the next cycle at `due` (monotonic)."""
        self._due = due

    def judge_at(self, now: float) -> float:
        """The moment to judge peers at in the cycle that runs at `now`."""
        due, self._due = self._due, None
        if due is not None and now - due > self.token_s / 2:
            self._paused = (due, now + self.token_s)
            log.warning("tandemd was not scheduled for %.0f ms: judging peers as of before "
                        "the pause for one token", (now - due) * 1000)
            self._on_pause(now - due)
        if self._paused is not None:
            judged_at, until = self._paused
            if now < until:
                return judged_at
            self._paused = None
        return now
