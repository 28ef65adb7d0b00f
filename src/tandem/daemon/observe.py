"""Observe: turn what the engine heard and holds into the cycle's immutable `CellView`.

This is the only place that updates the node ledger from the failure detector, adopts
peers' fence confirmations, and recomputes rings, quorum and the coordinator; everything
after it (decide, act) works from the view it returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tandem.manager.view import CellView, NodeFacts, ServiceFacts
from tandem.membership.detector import MembershipView
from tandem.membership.ledger import NodeState

if TYPE_CHECKING:
    from tandem.daemon.engine import Engine


def observe(engine: Engine, now: float) -> tuple[CellView, MembershipView]:
    """One consistent view of the cell at `now` (monotonic)."""
    at = engine.pause.judge_at(now)
    if engine.net is not None:
        engine.net.pull(engine.detector, engine.lock)  # what the rings heard meanwhile
    with engine.lock:
        membership = engine.detector.evaluate(at)
    engine.view = membership
    for peer_id, peer in membership.peers.items():
        engine.transitions(engine.ledger.observe(
            peer_id, peer.member, peer.incarnation, now, alive=peer.alive,
            heard_at=peer.last_heard))
    _adopt_peer_fences(engine, membership, now)
    engine.cell.update_rings(membership)
    standing = engine.disk.standing(membership.members)
    engine.standing = standing
    if engine.cell.update(membership.members, engine.claims, standing):
        # How a STATE was taken depends on who coordinates (only the coordinator's
        # placement is followed): take the next repeats afresh, not as duplicates.
        engine.state_seen.clear()
    nodes = _node_facts(engine, now)
    stopping = frozenset(n for n, f in nodes.items() if f.stopping)
    qdisk = engine.disk.qdisk
    engine.disk_wait.note(stopping, qdisk.interval_s if qdisk is not None else None)
    cell = engine.cell
    view = CellView(
        local_id=engine.local.id, now=now, wall=engine.clock.time(),
        quorate=cell.quorum.quorate, coordinator=cell.coordinator,
        members=membership.members, nodes=nodes, names=engine.ids,
        fencing=engine.fencer.running,
        startup_grace_over=now - engine.started > engine.startup_grace_s,
        evicted=frozenset(m for m in membership.members
                          if m in engine.claims and engine.claims[m].claims.gave_up),
        fence_requests=engine.fence_requests.take(),
        services=_service_facts(engine, now, membership))
    return view, membership


def _adopt_peer_fences(engine: Engine, membership: MembershipView, now: float) -> None:
    for peer in membership.members - {engine.local.id}:
        heard = engine.claims.get(peer)
        for node_id, (incarnation, at) in (heard.claims.fenced if heard else {}).items():
            engine.transitions(engine.ledger.adopt_fence(node_id, incarnation, at, now,
                                                         wall=engine.clock.time()))


def _node_facts(engine: Engine, now: float) -> dict[int, NodeFacts]:
    wall = engine.clock.time() - now
    return {i: NodeFacts(r.state, r.retry_at, engine.fencer.fenceable(i),
                         stopping=r.state == NodeState.LOST
                         and engine.disk.stopping(i, now - r.since),
                         online_since=r.since + wall)
            for i, r in engine.ledger.records.items()}


def _service_facts(engine: Engine, now: float,
                   membership: MembershipView) -> ServiceFacts | None:
    """The service facts, if a round is due in this cycle (None otherwise)."""
    states = tuple(sorted((i, r.state) for i, r in engine.ledger.records.items()))
    cell = engine.cell
    due, later = engine.pacing.due(now, (membership.members, cell.quorum.quorate,
                                         cell.coordinator, states))
    if later is not None:
        engine.wake_in("round", later)
    if not due:
        return None
    store, local = engine.store, engine.local_services
    report = local.report()
    coordinating = cell.quorum.quorate and cell.coordinator == engine.local.id
    return ServiceFacts(
        reports={**store.reports, engine.local.id: report}, intents=dict(store.intents),
        placement=dict(store.placement), placement_known=store.placement_known,
        waiting_for_placement=store.waiting_for_placement(
            now, coordinating and report.probed, membership.members),
        local=local.facts())
