"""Fencing decisions: which nodes the local node fences, which requests it refuses, and
when it stops fencing. Pure functions of the cycle's view.

Only a quorate node fences (DESIGN.md §2.2): when this node is not quorate it fences
nobody, refuses every request and cancels the fences it still runs. Only the coordinator
decides on its own to fence a node; any quorate member carries out a request from an
operator or from a member that cannot fence itself.
"""

from __future__ import annotations

from tandem.manager.actions import Action, CancelFences, DelegateFence, Fence, RefuseFence
from tandem.manager.view import CellView, FenceRequest
from tandem.membership.ledger import NodeState

NOT_QUORATE = "this node is not quorate: only a quorate node fences"


def decide_fencing(view: CellView) -> list[Action]:
    """Fence actions of this cycle: cancellations on quorum loss, the coordinator's
    own fences, and the answers to fence requests."""
    if not view.quorate:
        actions: list[Action] = []
        if view.fencing:
            actions.append(CancelFences("this node lost quorum"))
        actions.extend(RefuseFence(r.node_id, r.request, NOT_QUORATE)
                       for r in view.fence_requests)
        return actions
    actions = list(node_fences(view))
    actions.extend(answer(view, r) for r in view.fence_requests)
    return actions


def node_fences(view: CellView) -> list[Fence]:
    """Nodes the coordinator must fence now, by their state (empty unless it
    coordinates)."""
    if not view.coordinating:
        return []
    found = []
    for node_id in sorted(view.nodes):
        facts = view.nodes[node_id]
        if node_id == view.local_id or node_id in view.fencing or not facts.fenceable:
            continue
        if facts.state == NodeState.LOST and facts.stopping:
            continue  # fenced once it has stopped (or died on disk, or the wait ran out)
        if facts.state == NodeState.LOST:
            found.append(Fence(node_id, "lost: silent past the token timeout"))
        elif facts.state == NodeState.UNCLEAN and view.now >= facts.retry_at:
            found.append(Fence(node_id, "unclean: retrying fencing"))
        elif facts.state == NodeState.UNKNOWN and view.startup_grace_over:
            found.append(Fence(node_id, "never seen since start: startup fencing"))
        elif node_id in view.evicted and facts.state == NodeState.ONLINE:
            found.append(Fence(node_id, "its quorum disk heuristics fail: evicted"))
    return found


def answer(view: CellView, request: FenceRequest) -> Fence | RefuseFence:
    """Carry out a fence request of a quorate node, or say why not."""
    target = request.node_id
    why = ""
    if target == view.local_id:
        why = "refusing to fence the local node from itself"
    elif target not in view.nodes:
        why = f"unknown node id {target}"
    elif not view.nodes[target].fenceable:
        why = f"{view.name(target)} has no fence levels configured"
    elif request.origin and request.origin not in view.members:
        why = f"the asking node {view.name(request.origin)} is not a member"
    if why:
        return RefuseFence(target, request.request, why)
    return Fence(target, request.reason, request.request)


def fence_for_failed_stop(view: CellView, node_id: int, reason: str) -> Action | None:
    """A node whose stop failed must be fenced before the service starts elsewhere.
    A node cannot fence itself: then the lowest other member is asked to."""
    if node_id in view.fencing:
        return None
    if node_id != view.local_id:
        return Fence(node_id, reason)
    others = sorted(view.members - {view.local_id})
    return DelegateFence(node_id, others[0], reason) if others else None
