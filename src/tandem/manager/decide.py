"""Who coordinates, and what the coordinator decides about nodes. Pure functions.

The coordinator is the lowest-id member of a quorate partition — but only if every
member of that partition agrees that it is the lowest id it can see. Under asymmetric
connectivity (A and B cannot hear each other, both hear C) the two ends of the broken
link would otherwise each believe they coordinate and shoot each other; with the check,
C's report ("the lowest node I see is A") leaves only A in charge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tandem.manager.actions import Action, Fence
from tandem.membership.ledger import NodeState


def coordinator_of(local_id: int, members: frozenset[int],
                   reported: Mapping[int, frozenset[int]],
                   excluded: frozenset[int] = frozenset()) -> int | None:
    """The coordinator as the local node sees it (None while members disagree about
    the local node being lowest). `excluded` nodes (that gave up their vote) are never
    candidates."""
    candidates = members - excluded
    if not candidates:
        return None
    lowest = min(candidates)
    if lowest != local_id:
        return lowest
    for member in candidates - {local_id}:
        theirs = reported.get(member)
        if theirs is None or min((theirs - excluded) | {member}) != local_id:
            return None
    return local_id


@dataclass(frozen=True)
class NodeFacts:
    """What decide needs to know about one node."""

    state: NodeState
    retry_at: float = 0.0
    fenceable: bool = True
    stopping: bool = False  # lost, but the quorum disk shows it stopping its services


@dataclass(frozen=True)
class NodeView:
    """One consistent snapshot for the membership/fencing decisions."""

    local_id: int
    now: float
    quorate: bool
    coordinator: int | None
    nodes: Mapping[int, NodeFacts]
    fencing: frozenset[int] = field(default_factory=frozenset)
    startup_grace_over: bool = False
    evicted: frozenset[int] = field(default_factory=frozenset)


def decide_fencing(view: NodeView) -> list[Action]:
    """Fence actions the local node must start now (empty unless it coordinates)."""
    if not view.quorate or view.coordinator != view.local_id:
        return []
    actions: list[Action] = []
    for node_id in sorted(view.nodes):
        facts = view.nodes[node_id]
        if node_id == view.local_id or node_id in view.fencing or not facts.fenceable:
            continue
        if facts.state == NodeState.LOST and facts.stopping:
            continue  # fenced once it has stopped (or died on disk, or the wait ran out)
        if facts.state == NodeState.LOST:
            actions.append(Fence(node_id, "lost: silent past the token timeout"))
        elif facts.state == NodeState.UNCLEAN and view.now >= facts.retry_at:
            actions.append(Fence(node_id, "unclean: retrying fencing"))
        elif facts.state == NodeState.UNKNOWN and view.startup_grace_over:
            actions.append(Fence(node_id, "never seen since start: startup fencing"))
        elif node_id in view.evicted and facts.state == NodeState.ONLINE:
            actions.append(Fence(node_id, "its quorum disk heuristics fail: evicted"))
    return actions
