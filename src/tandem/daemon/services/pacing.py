"""When a service round is due.

With hundreds of services a round costs milliseconds and STATE messages arrive many times
a second, so a round runs only when something it depends on changed: at once for a change
of membership, quorum, coordinator or node states; for peers' reports and local changes at
most at a share of the loop's time (a burst of STATE messages at the cold start of a large
cell is handled in a few rounds, not one per message); and at least every second for the
restart windows and delays.
"""

from __future__ import annotations

from collections.abc import Hashable

FULL_ROUND_S = 1.0
ROUND_SHARE = 0.25  # rounds prompted by reports take at most this share of the loop


class RoundPacing:
    """Tracks what changed since the last round and when the next one may run."""

    def __init__(self) -> None:
        self.dirty = True  # something changed since the last round
        self._last_round = 0.0
        self._last_key: Hashable = None
        self._next_round = 0.0  # earliest moment of a round not due to membership

    def mark(self) -> None:
        """Facts changed (a report, an intent, a local service, the configuration)."""
        self.dirty = True

    def due(self, now: float, key: Hashable) -> tuple[bool, float | None]:
        """(run a round now, else how long until a deferred one is due). `key` sums up
        membership, quorum, coordinator and node states: a change of it is urgent."""
        urgent = key != self._last_key
        if urgent:
            self._last_key = key
            self.dirty = True
        if not self.dirty and now - self._last_round < FULL_ROUND_S:
            return False, None
        if not urgent and now < self._next_round:
            return False, self._next_round - now
        return True, None

    def begin(self, now: float) -> bool:
        """A round starts at `now`; True if it was prompted by a change."""
        prompted, self.dirty = self.dirty, False
        self._last_round = now
        return prompted

    def done(self, now: float, spent: float) -> None:
        """The round that started at `now` took `spent` seconds."""
        self._next_round = now + spent / ROUND_SHARE
