"""One node's side of the quorum disk protocol, without I/O, threads or clocks of its own.

A cycle is: `begin(now)`, write `slot(...)`, read every slot, then `finish(...)`. A
cycle whose write or read fails (or takes longer than the I/O budget) simply has no
`finish`. Keeping this apart from the thread and the device lets tests drive many nodes
through arbitrary interleavings and stalls against one shared dictionary of slots and
check that two masters never coexist.

The timing rule that makes ignoring dead nodes safe lives here: a view is valid for
`io_budget_s` (tko/2) after the start of the cycle that produced it, because nobody
can declare us dead before a full tko of silence. So a failed cycle changes nothing at
once (one I/O error does not cost the cell its master), but a node that begins a cycle
after its last good view expired drops its bid or mastership before writing, and one
silent for more than tko (the others may have declared it dead) rejoins as EVICTED with
a new incarnation and bids again only after a further tko.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from tandem.quorum.qdisk.config import QdiskDef
from tandem.quorum.qdisk.elect import (
    Election,
    Me,
    PeerTrack,
    PeerView,
    elect,
    observe,
    peer_views,
    settled_state,
)
from tandem.quorum.qdisk.format import MAX_NODES, NAME_BYTES, Role, Slot, SlotRecord, SlotState
from tandem.quorum.qdisk.heuristics import Score

_U16 = 0xFFFF


def new_incarnation() -> int:
    """A random, non-zero 63-bit number that tells this run of a node from earlier ones."""
    return int.from_bytes(os.urandom(8), "little") >> 1 or 1


class DiskProtocol:
    """The state one node carries from cycle to cycle."""

    def __init__(self, config: QdiskDef, node_id: int, node_name: str = "") -> None:
        if not 1 <= node_id <= MAX_NODES:
            raise ValueError(f"node id must be 1..{MAX_NODES}, got {node_id}")
        self.config = config
        self.node_id = node_id
        self.node_name = node_name.encode()[:NAME_BYTES].decode(errors="ignore")
        self.incarnation = new_incarnation()
        self.seq = 0
        self.role = Role.NONE
        self.state = SlotState.INIT
        self.vote = 0
        self.seen: frozenset[int] = frozenset()
        self.tracks: dict[int, PeerTrack] = {}
        self.peers: list[PeerView] = []
        self.last_good: float | None = None
        self.evicted_at = 0.0

    def view_valid(self, now: float) -> bool:
        """Whether the last good view may still be acted upon at `now`."""
        return self.last_good is not None and now - self.last_good <= self.config.io_budget_s

    def attach(self) -> None:
        """(Re)attached to a disk: forget what we knew about its slots, claim nothing."""
        self.tracks, self.peers = {}, []
        self.role = Role.NONE
        if self.state != SlotState.EVICTED:
            self.state = SlotState.INIT

    def begin(self, now: float) -> None:
        """Start a cycle at `now`: drop any claim made on a view that has expired."""
        if self.last_good is None:
            return
        gap = now - self.last_good
        if gap > self.config.tko_s:
            self.state, self.evicted_at = SlotState.EVICTED, now
            self.incarnation = new_incarnation()
            self.role = Role.NONE
        elif gap > self.config.io_budget_s:
            self.role = Role.NONE

    def slot(self, disk_uuid: bytes, score: Score, wall_time: float,
             holding: bool = False, quorate: bool = False) -> Slot:
        """Our slot for this cycle's write (advances the sequence counter)."""
        self.seq += 1
        return Slot(node_id=self.node_id, disk_uuid=disk_uuid, incarnation=self.incarnation,
                    seq=self.seq, timestamp=wall_time, interval_ms=self.config.interval_ms,
                    tko=min(self.config.tko, _U16), score=min(score.score, _U16),
                    max_score=min(score.max_score, _U16), score_ok=score.ok,
                    state=self.state, role=self.role, vote=self.vote, seen=self.seen,
                    name=self.node_name, holding=holding, quorate=quorate)

    def finish(self, records: Iterable[SlotRecord], score_ok: bool, start: float,
               read_start: float, read_end: float) -> Election:
        """Fold a complete read (that followed this cycle's write) and decide."""
        self.tracks = observe(self.tracks, records, read_end, me=self.node_id)
        self.peers = peer_views(self.tracks, read_start, self.config.tko_s)
        self.state = self._next_state(start)
        election = elect(Me(self.node_id, self.role, self.state, score_ok), self.peers)
        self.role, self.vote = election.role, election.vote
        self.seen = frozenset(p.node_id for p in self.peers if p.liveness == "alive") | {
            self.node_id}
        self.last_good = start
        return election

    def leave(self) -> None:
        """We are leaving: the next slot says STOPPED, with no role."""
        self.role, self.state = Role.NONE, SlotState.STOPPED

    def _next_state(self, start: float) -> SlotState:
        if self.state == SlotState.EVICTED:
            if start - self.evicted_at <= self.config.tko_s:
                return SlotState.EVICTED
            return settled_state(SlotState.INIT, self.peers)
        return settled_state(self.state, self.peers)
