"""The cell as the local node judges it after each observation: ring health, quorum and
the coordinator, with an event for every change."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tandem.common.events import EventKind
from tandem.config import ClusterConfig
from tandem.daemon.events import EventLog
from tandem.manager.coordinator import coordinator_of
from tandem.membership.claims import PeerClaims
from tandem.membership.detector import MembershipView, RingState
from tandem.quorum.votes import QuorumInputs, QuorumState, compute_quorum

GAVE_UP_VOTE = ("not quorate: this node's quorum disk heuristics fail (it gave up its vote "
                "and its services)")


@dataclass(frozen=True)
class DiskStanding:
    """What the quorum disk means for quorum in this cycle."""

    votes: int = 0  # the disk's configured votes (0: no quorum disk)
    owned: bool = False  # its master is a member of our partition
    withdrawn: bool = False  # this node's heuristics fail: it gives up its vote
    gave_up: bool = False  # ... after they had passed since start (peers fence it)


class CellState:
    """Quorum, coordinator and rings as of the last cycle."""

    def __init__(self, config: ClusterConfig, local_id: int, events: EventLog, *,
                 unblocked: bool = False) -> None:
        self.config = config
        self.local_id = local_id
        self.events = events
        self.unblocked = unblocked
        self.seen_all = False  # every node seen at least once since this daemon started
        self.quorum = QuorumState(False, 0, 0, "starting")
        self.coordinator: int | None = None
        self.rings: dict[int, RingState] = {}
        self.withdrawn: frozenset[int] = frozenset()

    def reconfigure(self, config: ClusterConfig) -> None:
        self.config = config

    def name(self, node_id: int | None) -> str:
        return next((n.name for n in self.config.nodes if n.id == node_id), "none")

    def update_rings(self, view: MembershipView) -> None:
        for ring, state in view.rings.items():
            old = self.rings.get(ring)
            if old != state:
                self.rings[ring] = state
                if old is not None or state != RingState.UNKNOWN:
                    network = next((r.name for r in self.config.rings if r.ring == ring), "?")
                    self.events.add(EventKind.RING, detail=f"ring {ring} ({network}) {state.value}",
                                    ring=ring)

    def update(self, members: frozenset[int], claims: Mapping[int, PeerClaims],
               disk: DiskStanding) -> bool:
        """Recompute quorum and the coordinator; True if the coordinator changed."""
        if members == frozenset(n.id for n in self.config.nodes):
            self.seen_all = True
        withdrawn = {m for m in members if m in claims and claims[m].claims.withdrawn}
        if disk.withdrawn:
            withdrawn.add(self.local_id)
        self.withdrawn = frozenset(withdrawn)
        quorum = self._quorum(members, disk)
        if quorum.quorate != self.quorum.quorate:
            self.events.add(EventKind.QUORUM, node=self.name(self.local_id), detail=quorum.reason,
                            quorate=quorum.quorate)
        self.quorum = quorum
        reported = {m: claims[m].claims.members for m in members if m in claims}
        coordinator = coordinator_of(self.local_id, members, reported, self.withdrawn) \
            if quorum.quorate else None
        if coordinator == self.coordinator:
            return False
        who = self.name(coordinator)
        self.events.add(EventKind.COORDINATOR, node=who, detail=f"coordinator is {who}")
        self.coordinator = coordinator
        return True

    def _quorum(self, members: frozenset[int], disk: DiskStanding) -> QuorumState:
        quorum = compute_quorum(QuorumInputs(
            expected_votes=self.config.expected_votes,
            node_votes={n.id: 0 if n.id in self.withdrawn else n.votes
                        for n in self.config.nodes},
            present=members, two_node=self.config.two_node,
            wait_for_all=self.config.wait_for_all, seen_all_since_boot=self.seen_all,
            operator_unblocked=self.unblocked, qdisk_votes=disk.votes,
            qdisk_owned_by_partition=disk.owned))
        if self.local_id in self.withdrawn:
            return QuorumState(False, quorum.total_votes, quorum.needed, GAVE_UP_VOTE)
        return quorum
