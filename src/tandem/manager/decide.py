"""The one decision of a cycle: `decide(view, config) -> actions`. Pure.

It composes three parts, in this order, all reading the same immutable view:
1. fencing (`manager.fencing`): cancel on quorum loss, the coordinator's fences of lost,
   unclean, never-seen or evicted nodes, answers to operators' and peers' requests;
2. placement (`manager.placement`), on the quorate coordinator only: where every service
   should run, published to the cell, with fences for nodes whose stop failed;
3. the local node's services (`manager.local`): follow the (new) placement, stop
   everything without quorum, never start what another node could still hold.
"""

from __future__ import annotations

from collections.abc import Mapping

from tandem.config.model import ClusterConfig
from tandem.manager.actions import Action, Fence, Publish, RecordIntent
from tandem.manager.fencing import decide_fencing, fence_for_failed_stop
from tandem.manager.local import reconcile
from tandem.manager.model import Assignment
from tandem.manager.placement import ServiceView, blockers, cell_locked, decide_services
from tandem.manager.view import CellView, ServiceFacts


def decide(view: CellView, config: ClusterConfig) -> list[Action]:
    """Everything the local node must do now, given `view`."""
    actions = decide_fencing(view)
    if view.services is not None:
        fenced = {a.node_id for a in actions if isinstance(a, Fence)}
        actions.extend(a for a in _services(view, view.services, config)
                       if not (isinstance(a, Fence) and a.node_id in fenced))
    return actions


def service_view(view: CellView, facts: ServiceFacts,
                 placement: Mapping[str, Assignment]) -> ServiceView:
    """The placement's snapshot, drawn from the cycle's view."""
    return ServiceView(
        local_id=view.local_id, now=view.wall, members=view.members,
        node_ids={name: node for node, name in view.names.items()},
        node_states={n: f.state for n, f in view.nodes.items()},
        online_since={n: f.online_since for n, f in view.nodes.items()},
        fenceable=frozenset(n for n, f in view.nodes.items() if f.fenceable),
        reports=facts.reports, intents=facts.intents, placement=placement)


def _services(view: CellView, facts: ServiceFacts, config: ClusterConfig) -> list[Action]:
    actions: list[Action] = []
    placement, known, intents = facts.placement, facts.placement_known, dict(facts.intents)
    local_report = facts.reports.get(view.local_id)
    probed = local_report is not None and local_report.probed
    if view.coordinating and probed and not facts.waiting_for_placement:
        decision = decide_services(config, service_view(view, facts, placement))
        actions.append(Publish(decision.placement, decision.notes))
        actions.extend(RecordIntent(name, i) for name, i in decision.intents.items())
        for fence in decision.fences:
            action = fence_for_failed_stop(view, fence.node_id, fence.reason)
            if action is not None:
                actions.append(action)
        placement, known = decision.placement, True
        intents.update(decision.intents)
    if local_report is None:
        return actions
    trusted = placement if known and view.coordinator in view.members else None
    after = service_view(view, facts, placement)
    actions.extend(reconcile(
        [s.name for s in config.services], local_report, facts.local,
        my_id=view.local_id, quorate=view.quorate, placement=trusted,
        frozen=frozenset(n for n, i in intents.items() if i.frozen),
        locked=cell_locked(intents),
        may_start=lambda name: not blockers(after, name, exclude=view.local_id)))
    return actions
