"""Failure detection from heartbeats, as a pure function of what was heard when.

A peer is alive while it has been heard on at least one ring within the token
timeout; it is a *member* only if it also reports hearing us, because one-way
contact (a broken transmit path on either side) must not count as a working
partnership. Rings are judged separately: a ring that no longer carries a live
peer's heartbeats is a loss of redundancy, not the loss of that peer.

No clock is read here: every call takes `now` (monotonic seconds) so that tests
can replay any timeline as a table.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tandem.common.errors import TandemError


class MembershipError(TandemError):
    """The detector was asked about a peer or ring it was not configured with."""


class RingState(enum.Enum):
    """Health of one ring from the local node's point of view."""

    UP = "up"              # every live peer on this ring is heard on it
    DEGRADED = "degraded"  # some live peers are heard on it, some are not
    DOWN = "down"          # live peers exist, none is heard on this ring
    UNKNOWN = "unknown"    # no live peer to judge the ring by


@dataclass(frozen=True)
class PeerView:
    """What the local node knows about one peer at one instant."""

    node_id: int
    alive: bool
    rings: Mapping[int, bool]
    last_heard: float | None
    hears_us: bool
    incarnation: int | None

    @property
    def member(self) -> bool:
        """Two-way contact: the peer is heard and it hears us."""
        return self.alive and self.hears_us

    @property
    def degraded(self) -> bool:
        """Alive, but silent on at least one of its rings."""
        return self.alive and not all(self.rings.values())


@dataclass(frozen=True)
class MembershipView:
    """One consistent snapshot of peers and rings."""

    now: float
    local_id: int
    peers: Mapping[int, PeerView]
    rings: Mapping[int, RingState]

    @property
    def members(self) -> frozenset[int]:
        """The local node and every peer in two-way contact with it."""
        return frozenset({self.local_id} | {p.node_id for p in self.peers.values()
                                            if p.member})

    @property
    def alive(self) -> frozenset[int]:
        """Peers heard recently on any ring, whether or not they hear us."""
        return frozenset(p.node_id for p in self.peers.values() if p.alive)

    @property
    def redundancy_degraded(self) -> bool:
        """Some ring fails to carry some live peer's heartbeats."""
        return any(s in (RingState.DOWN, RingState.DEGRADED) for s in self.rings.values())


@dataclass
class _PeerRecord:
    last_on_ring: dict[int, float]
    last_any: float | None = None
    sees: frozenset[int] | None = None
    sees_at: float | None = None
    incarnation: int | None = None


class FailureDetector:
    """Collects heartbeats and judges peers and rings against the token timeout."""

    def __init__(self, local_id: int, peer_ids: Iterable[int], ring_ids: Iterable[int],
                 token_s: float, *,
                 ring_peers: Mapping[int, Iterable[int]] | None = None) -> None:
        """`ring_peers` lists the peers attached to each ring (default: all of them)."""
        if token_s <= 0:
            raise MembershipError(f"token must be positive, got {token_s}")
        self.local_id = local_id
        self.token_s = token_s
        peers = frozenset(peer_ids) - {local_id}
        self.ring_ids = tuple(sorted(set(ring_ids)))
        if not self.ring_ids:
            raise MembershipError("at least one ring is needed")
        self.ring_peers: dict[int, frozenset[int]] = {}
        for ring in self.ring_ids:
            on_ring = peers if ring_peers is None else frozenset(ring_peers.get(ring, ()))
            if not on_ring <= peers:
                raise MembershipError(f"ring {ring} lists unknown peers "
                                      f"{sorted(on_ring - peers)}")
            self.ring_peers[ring] = on_ring
        self._records = {p: _PeerRecord(last_on_ring={}) for p in sorted(peers)}

    def heard(self, peer: int, ring: int, now: float, peer_sees: frozenset[int] | None,
              *, incarnation: int | None = None) -> None:
        """Record a message from `peer` on `ring` at `now`.

        `peer_sees` is the set of ids the peer says it hears (from its heartbeat);
        None for messages that carry no such list. Late-arriving records (an older
        `now`) never overwrite newer knowledge.
        """
        record = self._records.get(peer)
        if record is None:
            raise MembershipError(f"unknown peer {peer}")
        if peer not in self.ring_peers.get(ring, frozenset()):
            raise MembershipError(f"peer {peer} is not configured on ring {ring}")
        previous = record.last_on_ring.get(ring)
        if previous is None or now > previous:
            record.last_on_ring[ring] = now
        if record.last_any is None or now > record.last_any:
            record.last_any = now
        if peer_sees is not None and (record.sees_at is None or now >= record.sees_at):
            record.sees = peer_sees
            record.sees_at = now
        if incarnation is not None and (record.incarnation is None
                                        or incarnation > record.incarnation):
            record.incarnation = incarnation

    def evaluate(self, now: float) -> MembershipView:
        """Judge every peer and ring at `now`."""
        peers = {pid: self._peer_view(pid, rec, now) for pid, rec in self._records.items()}
        rings = {ring: self._ring_state(ring, peers) for ring in self.ring_ids}
        return MembershipView(now=now, local_id=self.local_id, peers=peers, rings=rings)

    def next_expiry(self, now: float) -> float | None:
        """The earliest moment at which a peer or one of its rings that is fresh now
        would go stale, so that the caller can look again exactly then."""
        moments = [when + self.token_s for rec in self._records.values()
                   for when in (rec.last_any, *rec.last_on_ring.values())
                   if when is not None and self._fresh(when, now)]
        return min(moments, default=None)

    def _fresh(self, when: float | None, now: float) -> bool:
        return when is not None and now - when <= self.token_s

    def _peer_view(self, pid: int, rec: _PeerRecord, now: float) -> PeerView:
        rings = {ring: self._fresh(rec.last_on_ring.get(ring), now)
                 for ring in self.ring_ids if pid in self.ring_peers[ring]}
        alive = any(rings.values())
        hears_us = (alive and rec.sees is not None and self.local_id in rec.sees
                    and self._fresh(rec.sees_at, now))
        return PeerView(node_id=pid, alive=alive, rings=rings, last_heard=rec.last_any,
                        hears_us=hears_us, incarnation=rec.incarnation)

    def _ring_state(self, ring: int, peers: Mapping[int, PeerView]) -> RingState:
        judged = [p for pid, p in peers.items() if pid in self.ring_peers[ring] and p.alive]
        if not judged:
            return RingState.UNKNOWN
        heard = sum(1 for p in judged if p.rings[ring])
        if heard == len(judged):
            return RingState.UP
        return RingState.DOWN if heard == 0 else RingState.DEGRADED
