"""Freshness of authenticated packets: one sliding window per (sender, ring).

The MAC proves who sent a packet, not when. A recorded heartbeat replayed later
would make a dead node look alive, so each sender's sequence numbers are tracked
per ring (rings are independent paths and may reorder differently). A higher
incarnation means the sender's daemon restarted: its window starts afresh. A lower
incarnation is a packet from a previous life and is always refused.

Pure and O(1) per packet: a fixed-width bitmap held in an int.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

DEFAULT_WIDTH = 1024


class Verdict(enum.Enum):
    """Outcome of a freshness check; anything but ACCEPT is a drop reason."""

    ACCEPT = "accept"
    DUPLICATE = "duplicate"
    TOO_OLD = "too_old"
    OLD_INCARNATION = "old_incarnation"


@dataclass
class _Window:
    incarnation: int
    top: int
    bits: int  # bit i set: sequence number top - i was accepted


class ReplayWindow:
    """Accepts each (incarnation, seq) of one sender on one ring at most once."""

    def __init__(self, width: int = DEFAULT_WIDTH) -> None:
        if width < 1:
            raise ValueError("replay window width must be at least 1")
        self.width = width
        self._mask = (1 << width) - 1
        self._state: _Window | None = None

    def check(self, incarnation: int, seq: int) -> Verdict:
        """Judge a packet and, if fresh, remember it."""
        state = self._state
        if state is None or incarnation > state.incarnation:
            self._state = _Window(incarnation=incarnation, top=seq, bits=1)
            return Verdict.ACCEPT
        if incarnation < state.incarnation:
            return Verdict.OLD_INCARNATION
        if seq > state.top:
            shift = seq - state.top
            state.bits = 1 if shift >= self.width else ((state.bits << shift) | 1) & self._mask
            state.top = seq
            return Verdict.ACCEPT
        offset = state.top - seq
        if offset >= self.width:
            return Verdict.TOO_OLD
        bit = 1 << offset
        if state.bits & bit:
            return Verdict.DUPLICATE
        state.bits |= bit
        return Verdict.ACCEPT

    @property
    def incarnation(self) -> int | None:
        """The sender incarnation currently tracked (None before the first packet)."""
        return None if self._state is None else self._state.incarnation


class ReplayGuard:
    """Replay windows for every (sender, ring) pair seen so far.

    Callers must only feed authenticated packets from configured senders, which
    bounds the number of windows by the size of the cell.
    """

    def __init__(self, width: int = DEFAULT_WIDTH) -> None:
        self.width = width
        self._windows: dict[tuple[int, int], ReplayWindow] = {}

    def check(self, sender: int, ring: int, incarnation: int, seq: int) -> Verdict:
        """Judge a packet of `sender` that arrived on `ring`, remembering it if fresh."""
        window = self._windows.get((sender, ring))
        if window is None:
            window = self._windows[(sender, ring)] = ReplayWindow(self.width)
        return window.check(incarnation, seq)

    def forget(self, sender: int) -> None:
        """Drop every window of `sender` (e.g. when it leaves the configuration)."""
        for pair in [p for p in self._windows if p[0] == sender]:
            del self._windows[pair]
