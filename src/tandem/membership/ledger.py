"""The state of every node of the cell as the local daemon knows it, with the time of
each change. Pure: the engine feeds it observations and gets back what changed.

States and why they exist:
- unknown: not heard since this daemon started (it may be running anything);
- online: in two-way contact;
- lost: silent past the token timeout, not yet fenced: whatever it held is NOT free;
- fencing: a fence operation against it is running;
- fenced: confirmed powered off since it was last heard: what it held is free;
- offline: it announced a clean shutdown (its services were stopped): nothing to fence;
- unclean: lost and fencing failed; retried, and nothing it held moves meanwhile.

A node that is heard again keeps its suspicion unless it comes back with a new
incarnation (it restarted, so it holds nothing it does not report) — a node that merely
stalled and resumed is still fenced.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field


class NodeState(enum.Enum):
    UNKNOWN = "unknown"
    ONLINE = "online"
    LOST = "lost"
    FENCING = "fencing"
    FENCED = "fenced"
    OFFLINE = "offline"
    UNCLEAN = "unclean"


# Heartbeats heard this soon after a confirmed power-off were in flight before it.
STALE_GRACE_S = 0.2
# A node never heard before it was fenced (startup fencing) is a new life when heard if
# its daemon started this long after the power-off by our clock (its incarnation is its
# start time): margin for clocks that differ a little between nodes.
BOOT_MARGIN_S = 1.0

# States in which the node might still run something it had: nothing of it may move.
SUSPECT = frozenset({NodeState.UNKNOWN, NodeState.LOST, NodeState.FENCING,
                     NodeState.UNCLEAN})
# States in which the node is known to run nothing at all.
DOWN_SAFE = frozenset({NodeState.FENCED, NodeState.OFFLINE})


@dataclass
class NodeRecord:
    """One node's entry."""

    node_id: int
    state: NodeState = NodeState.UNKNOWN
    since: float = 0.0
    incarnation: int | None = None
    fenced_incarnation: int | None = None
    fenced_at: float | None = None
    off_since: float | None = None  # local time we learned it was off (ours or a peer's)
    off_wall: float | None = None  # the same moment, wall clock (seconds)
    fence_failures: int = 0
    retry_at: float = 0.0
    note: str = ""


@dataclass(frozen=True)
class Transition:
    """A change of one node's state, for the event timeline."""

    node_id: int
    old: NodeState
    new: NodeState
    at: float
    note: str = ""


@dataclass
class Ledger:
    """Every node's record; methods return the transitions they caused."""

    local_id: int
    records: dict[int, NodeRecord] = field(default_factory=dict)

    @classmethod
    def create(cls, local_id: int, node_ids: Iterable[int], now: float,
               local_incarnation: int) -> Ledger:
        ledger = cls(local_id)
        for node_id in node_ids:
            ledger.records[node_id] = NodeRecord(node_id, since=now)
        me = ledger.records[local_id]
        me.state, me.incarnation = NodeState.ONLINE, local_incarnation
        return ledger

    def state(self, node_id: int) -> NodeState:
        return self.records[node_id].state

    def _move(self, rec: NodeRecord, new: NodeState, now: float,
              note: str = "") -> list[Transition]:
        if rec.state == new:
            return []
        change = Transition(rec.node_id, rec.state, new, now, note)
        rec.state, rec.since, rec.note = new, now, note
        return [change]

    def observe(self, node_id: int, member: bool, incarnation: int | None,
                now: float, *, alive: bool | None = None,
                heard_at: float | None = None) -> list[Transition]:
        """Apply what the failure detector says about a peer at `now`: `member` (two-way
        contact) admits it; only silence (`alive` false) makes an online peer lost.
        `heard_at` is when it was last heard (heartbeats from before its power-off do
        not count as being heard again).

        A peer we still hear but that no longer hears us is not declared lost here: it is
        the one that will act (it sees us silent), and shooting it back would turn a
        one-way failure into a fence race that both sides lose."""
        rec = self.records[node_id]
        if node_id == self.local_id:
            return []
        if member and not self._stale(rec, heard_at):
            return self._heard(rec, incarnation, now)
        heard = member if alive is None else alive
        if rec.state == NodeState.ONLINE and not heard:
            return self._move(rec, NodeState.LOST, now, "silent past the token timeout")
        return []

    @staticmethod
    def _stale(rec: NodeRecord, heard_at: float | None) -> bool:
        """A fenced node still inside the token window of its last heartbeats: they were
        sent before it lost power, so they prove nothing."""
        return (rec.state == NodeState.FENCED and heard_at is not None
                and rec.off_since is not None and heard_at <= rec.off_since + STALE_GRACE_S)

    def _heard(self, rec: NodeRecord, incarnation: int | None, now: float) -> list[Transition]:
        new_life = (incarnation is not None and rec.incarnation is not None
                    and incarnation > rec.incarnation)
        first = rec.incarnation is None
        if incarnation is not None and (first or new_life):
            rec.incarnation = incarnation
        if rec.state == NodeState.ONLINE:
            return []
        if rec.state == NodeState.UNKNOWN or new_life:
            rec.fence_failures = 0
            note = "restarted" if new_life else "joined"
            return self._move(rec, NodeState.ONLINE, now, note)
        if rec.state == NodeState.FENCED:
            if first and _booted_after(incarnation, rec.off_wall):
                # Never heard before its fence (startup fencing), and its daemon started
                # after the power-off: it was powered on since, a new life.
                rec.fence_failures = 0
                return self._move(rec, NodeState.ONLINE, now, "booted after being fenced")
            # Confirmed off, yet heard with the same life: the fence device lied.
            return self._move(rec, NodeState.UNCLEAN, now,
                              "heard again after being fenced, without a restart")
        # lost/fencing/unclean: still to be fenced despite being heard; offline: a node
        # that left cleanly only comes back with a new life (late heartbeats are ignored).
        return []

    def left(self, node_id: int, now: float) -> list[Transition]:
        """The node announced a clean shutdown."""
        return self._move(self.records[node_id], NodeState.OFFLINE, now, "left cleanly")

    def fencing_started(self, node_id: int, now: float) -> list[Transition]:
        return self._move(self.records[node_id], NodeState.FENCING, now)

    def fence_succeeded(self, node_id: int, now: float, note: str = "",
                        wall: float | None = None) -> list[Transition]:
        """The node's power reads off (`wall`: the same moment, wall clock)."""
        rec = self.records[node_id]
        rec.fenced_incarnation, rec.fenced_at, rec.fence_failures = rec.incarnation, now, 0
        rec.off_since, rec.off_wall = now, wall
        return self._move(rec, NodeState.FENCED, now, note or "confirmed powered off")

    def fence_failed(self, node_id: int, now: float, retry_in: float,
                     note: str) -> list[Transition]:
        rec = self.records[node_id]
        rec.fence_failures += 1
        rec.retry_at = now + retry_in
        if rec.state == NodeState.FENCING:
            return self._move(rec, NodeState.UNCLEAN, now, note)
        return []

    def adopt_fence(self, node_id: int, incarnation: int | None, fenced_at: float,
                    now: float, wall: float | None = None) -> list[Transition]:
        """A peer reports it fenced `node_id` while it had `incarnation`: believe it if
        we know no newer life of that node."""
        rec = self.records.get(node_id)
        if rec is None or node_id == self.local_id or rec.state not in SUSPECT:
            return []
        if (rec.incarnation is not None and incarnation is not None
                and rec.incarnation > incarnation):
            return []
        rec.fenced_incarnation, rec.fenced_at = incarnation, fenced_at
        # The peer's clock is not ours: what we know is "off by now".
        rec.off_since, rec.off_wall = now, wall
        return self._move(rec, NodeState.FENCED, now, "fenced (reported by a peer)")

    def fenced_records(self) -> dict[int, tuple[int | None, float]]:
        """Fence confirmations to share with peers: node -> (incarnation, when)."""
        return {r.node_id: (r.fenced_incarnation, r.fenced_at or 0.0)
                for r in self.records.values() if r.state == NodeState.FENCED}


def _booted_after(incarnation: int | None, off_wall: float | None) -> bool:
    """Whether a life (incarnation: its daemon's start, wall-clock ns) began after the
    power-off at `off_wall` (wall-clock s), with a margin for clock differences."""
    return (incarnation is not None and off_wall is not None
            and incarnation / 1e9 > off_wall + BOOT_MARGIN_S)
