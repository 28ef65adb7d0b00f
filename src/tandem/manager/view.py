"""The one immutable snapshot of the cell that `decide()` reads.

The daemon builds it at the start of every cycle from what it observed (membership,
quorum, fencing, the nodes' service reports, the quorum disk, operators' requests);
nothing in it changes while the decision runs, and nothing else is read by the decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tandem.manager.model import Assignment, Intent, NodeReport
from tandem.membership.ledger import NodeState


@dataclass(frozen=True)
class NodeFacts:
    """What the decision needs to know about one node."""

    state: NodeState
    retry_at: float = 0.0  # when fencing an unclean node may be tried again
    fenceable: bool = True  # it has fence levels
    stopping: bool = False  # lost, but the quorum disk shows it stopping its services
    online_since: float = 0.0  # wall-clock time of its last state change


@dataclass(frozen=True)
class FenceRequest:
    """A fence asked for by an operator (origin 0) or by a peer (origin = its id)."""

    request: int
    node_id: int
    origin: int
    reason: str


@dataclass(frozen=True)
class LocalFacts:
    """What only the local node knows about one of its services."""

    busy: bool = False  # an operation (start, stop, restart) is running
    removed: bool = False  # no longer configured: it is only stopped


@dataclass(frozen=True)
class ServiceFacts:
    """The replicated service facts as this node holds them."""

    reports: Mapping[int, NodeReport]  # every node's last report, the local one included
    intents: Mapping[str, Intent]
    placement: Mapping[str, Assignment]
    placement_known: bool  # the placement came from a coordinator (or we decided it)
    waiting_for_placement: bool = False  # a new coordinator waits for its members' STATE
    local: Mapping[str, LocalFacts] = field(default_factory=dict)


@dataclass(frozen=True)
class CellView:
    """Everything one cycle's decision is based on.

    `now` is monotonic (node states, fencing retries), `wall` is wall-clock time
    (service reports and restart windows, which travel between nodes). `services` is None
    in a cycle that has no service round due (with hundreds of services a round costs
    milliseconds; node and fencing decisions run in every cycle)."""

    local_id: int
    now: float
    quorate: bool
    coordinator: int | None
    members: frozenset[int]
    nodes: Mapping[int, NodeFacts]
    names: Mapping[int, str]
    wall: float = 0.0
    fencing: frozenset[int] = frozenset()
    startup_grace_over: bool = False
    evicted: frozenset[int] = frozenset()  # members whose quorum-disk heuristics gave up
    fence_requests: tuple[FenceRequest, ...] = ()
    services: ServiceFacts | None = None

    @property
    def coordinating(self) -> bool:
        """This node decides for the cell: it is quorate and the agreed coordinator."""
        return self.quorate and self.coordinator == self.local_id

    def state(self, node_id: int) -> NodeState:
        facts = self.nodes.get(node_id)
        return facts.state if facts is not None else NodeState.UNKNOWN

    def name(self, node_id: int) -> str:
        return self.names.get(node_id, str(node_id))
