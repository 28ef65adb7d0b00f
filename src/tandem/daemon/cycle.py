"""What one cycle of the engine returns, and the pieces it starts from."""

from __future__ import annotations

from dataclasses import dataclass

from tandem.config import ClusterConfig
from tandem.manager.actions import Action, describe
from tandem.manager.view import CellView
from tandem.membership.detector import FailureDetector
from tandem.quorum.votes import QuorumState


@dataclass(frozen=True)
class CycleResult:
    """What one cycle saw and did: a status line for people and the log, and the actions
    (compared in tests)."""

    status: str
    actions: tuple[Action, ...]


def make_detector(config: ClusterConfig, local_id: int) -> FailureDetector:
    """The failure detector of `local_id`: every peer, on the rings it is attached to."""
    peers = [n.id for n in config.nodes if n.id != local_id]
    ring_peers = {r.ring: [n.id for n in config.nodes if n.id != local_id
                           and n.interface_on(r.name) is not None]
                  for r in config.rings if r.ring is not None}
    return FailureDetector(local_id, peers, ring_peers.keys(),
                           config.timing.token_ms / 1000.0, ring_peers=ring_peers)


def status_line(view: CellView, quorum: QuorumState, actions: list[Action]) -> str:
    """One line: "quorate (2/2 votes), coordinator node1, members node1,node2; fence ..."."""
    head = (f"{'quorate' if quorum.quorate else 'not quorate'} "
            f"({quorum.total_votes}/{quorum.needed} votes), coordinator "
            f"{view.name(view.coordinator) if view.coordinator else 'none'}, members "
            f"{','.join(view.name(m) for m in sorted(view.members))}")
    done = [describe(a, view.names) for a in actions]
    return head + "; " + ("; ".join(done) if done else "nothing to do")
