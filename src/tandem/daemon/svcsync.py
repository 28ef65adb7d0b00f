"""The service side of the engine: keeps the replicated facts (reports, intents,
placement), runs the coordinator's placement round, and drives the local services.

The engine calls `round()` from its tick with the membership it just computed; this
class never looks at sockets or clocks other than through what it is given.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tandem.common.events import EventKind
from tandem.common.status import ServiceStatus
from tandem.config import ClusterConfig
from tandem.daemon.events import EventLog
from tandem.daemon.localsvc import LocalServices
from tandem.daemon.sync import StateMessage, load_intents, merge_intents, save_intents
from tandem.manager.actions import Fence
from tandem.manager.display import ServiceShow, show_service
from tandem.manager.model import Assignment, Intent, NodeReport
from tandem.manager.placement import (
    ServiceView,
    blockers,
    decide_services,
    effective_intent,
    held,
)
from tandem.membership.ledger import DOWN_SAFE, NodeState

FULL_ROUND_S = 1.0
# Rounds prompted by peers' reports (not by a membership change) take at most this share
# of the loop's time: a burst of STATE messages (a cold start of a large cell) is
# handled in a few rounds instead of one per message.
ROUND_SHARE = 0.25
PLACEMENT_WAIT_S = 3.0  # a new coordinator's wait for the members' STATE, at most


def newest_placement(mine: dict[str, Assignment],
                     theirs: dict[str, Assignment]) -> dict[str, Assignment]:
    """Per service, the assignment of the higher generation (the later decision)."""
    merged = dict(mine)
    for name, assignment in theirs.items():
        if name not in merged or assignment.gen > merged[name].gen:
            merged[name] = assignment
    return merged


@dataclass(frozen=True)
class Membership:
    """What the engine knows at the start of a round."""

    now: float
    members: frozenset[int]
    quorate: bool
    coordinator: int | None
    states: dict[int, NodeState]
    online_since: dict[int, float]
    fenceable: frozenset[int]


class ServiceSync:
    """Replicated service facts of one node, and the rounds that act on them."""

    def __init__(self, config: ClusterConfig, local_id: int, state_dir: Path,
                 events: EventLog, on_change: Callable[[], None]) -> None:
        self.config = config
        self.local_id = local_id
        self.ids = {n.name: n.id for n in config.nodes}
        self.names = {n.id: n.name for n in config.nodes}
        self.events = events
        self.intents_path = state_dir / "intents.json"
        self.intents: dict[str, Intent] = load_intents(self.intents_path)
        self.placement: dict[str, Assignment] = {}
        self.placement_known = False
        self.notes: dict[str, str] = {}
        self.reports: dict[int, NodeReport] = {}
        self._on_change = on_change
        self.local = LocalServices(config, self.names[local_id], events, self._local_changed)
        self.dirty = True
        self._last_round = 0.0
        self._last_membership: object = None
        self._next_round = 0.0  # earliest moment of a round not due to membership
        self._wake_pending = False
        self._coordinating_since: float | None = None
        self.shown: dict[str, ServiceShow] = {}
        self.last_owner: dict[str, int] = {}
        self._sync_frozen()

    def update_config(self, config: ClusterConfig) -> None:
        """A new configuration of the same cell: new service definitions take effect."""
        self.config = config
        self.dirty = True
        self.local.update_config(config)
        known = {s.name for s in config.services}
        self.placement = {k: v for k, v in self.placement.items() if k in known}

    # -- messages ---------------------------------------------------------------------------
    def outgoing(self, coordinator: bool) -> StateMessage:
        """Every node that knows a placement shares it: a coordinator that just booted
        takes it over instead of deciding afresh (and replaying operator requests that
        were carried out long ago). Notes come from the coordinator only."""
        known = coordinator or self.placement_known
        return StateMessage(self.local.report(), dict(self.intents),
                            dict(self.placement) if known else None,
                            dict(self.notes) if coordinator else {})

    def _local_changed(self) -> None:
        self.dirty = True
        self._on_change()

    def incoming(self, sender: int, msg: StateMessage, coordinator: int | None) -> bool:
        """Apply a peer's STATE; True if our own intents changed (to re-announce)."""
        if self.reports.get(sender) != msg.report:
            self.reports[sender] = msg.report
            self.dirty = True
        changed = merge_intents(self.intents, msg.intents)
        if changed:
            save_intents(self.intents_path, self.intents)
            self._sync_frozen()
            self.dirty = True
        if msg.placement is None or sender == self.local_id:
            return bool(changed)
        if sender == coordinator and (msg.placement != self.placement
                                      or msg.notes != self.notes or not self.placement_known):
            self.placement = msg.placement
            self.placement_known = True
            self.notes = msg.notes
            self.dirty = True
        elif not self.placement_known:
            # Not trusted (placement_known stays false): a starting point for this node's
            # first decisions, should it be or become the coordinator before it hears one.
            self.placement = newest_placement(self.placement, msg.placement)
            self.dirty = True
        return bool(changed)

    def _waiting_for_placement(self, m: Membership) -> bool:
        """A coordinator that knows no placement yet waits (bounded) for every member's
        STATE: one of them may carry the placement of the previous coordinator."""
        if self.placement_known:
            return False
        if self._coordinating_since is None:
            self._coordinating_since = m.now
        silent = [n for n in m.members if n != self.local_id and n not in self.reports]
        return bool(silent) and m.now - self._coordinating_since < PLACEMENT_WAIT_S

    def forget(self, node: int) -> None:
        """A node restarted: its old report is meaningless."""
        self.reports.pop(node, None)
        self.dirty = True

    def _sync_frozen(self) -> None:
        self.local.frozen = {n for n, i in self.intents.items() if i.frozen}

    # -- the round ------------------------------------------------------------------------------
    def view(self, m: Membership) -> ServiceView:
        reports = dict(self.reports)
        reports[self.local_id] = self.local.report()
        return ServiceView(local_id=self.local_id, now=time.time(), members=m.members,
                           node_ids=self.ids, node_states=m.states,
                           online_since=m.online_since, fenceable=m.fenceable,
                           reports=reports, intents=self.intents, placement=self.placement)

    def round(self, m: Membership) -> tuple[list[Fence], bool]:
        """Coordinator decisions (if we coordinate) and local reconciliation.
        Returns fences to perform and whether our STATE changed (to send it now)."""
        fences: list[Fence] = []
        changed = False
        # Nothing that decisions depend on changed: skip the round (with hundreds of
        # services a round costs milliseconds, and messages arrive many times a second).
        # A full round still runs every FULL_ROUND_S, for the restart windows and delays.
        key = (m.members, m.quorate, m.coordinator, tuple(sorted(m.states.items(),
                                                                key=lambda x: x[0])))
        urgent = key != self._last_membership
        if urgent:
            self._last_membership = key
            self.dirty = True
        if not self.dirty and m.now - self._last_round < FULL_ROUND_S:
            return fences, changed
        if not urgent and m.now < self._next_round:
            self._wake_in(self._next_round - m.now)
            return fences, changed
        started = time.monotonic()
        prompted, self.dirty = self.dirty, False
        self._last_round = m.now
        if m.coordinator != self.local_id:
            self._coordinating_since = None
        elif m.quorate and self.local.probed and not self._waiting_for_placement(m):
            decision = decide_services(self.config, self.view(m))
            if decision.placement != self.placement or decision.notes != self.notes:
                changed = True
            self.placement, self.notes = decision.placement, decision.notes
            self.placement_known = True
            for name, intent in decision.intents.items():
                self.intents[name] = intent
                changed = True
            if decision.intents:
                save_intents(self.intents_path, self.intents)
                self._sync_frozen()
            fences = decision.fences
        view = self.view(m)
        trusted = self.placement if self.placement_known and m.coordinator in m.members \
            else None
        self.local.reconcile(trusted, self.local_id, m.quorate,
                             lambda svc: not blockers(view, svc, exclude=self.local_id))
        if prompted or changed:  # else nothing the display shows has changed
            self._record_display(view)
        spent = time.monotonic() - started
        self._next_round = m.now + spent / ROUND_SHARE
        return fences, changed

    def _wake_in(self, delay: float) -> None:
        """Have the engine tick when a deferred round is due (through `on_change`, its
        only way in; the STATE it may send is unchanged, and peers skip it unread)."""
        if self._wake_pending:
            return
        self._wake_pending = True

        def due() -> None:
            self._wake_pending = False
            self._on_change()

        asyncio.get_running_loop().call_later(delay, due)

    def _record_display(self, view: ServiceView) -> None:
        reports = {n: r for n, r in view.reports.items()
                   if view.node_states.get(n) not in DOWN_SAFE}
        unreachable = frozenset(n for n in reports if n not in view.members)
        # A node whose report says "stopped" plays no part in how a service looks: each
        # service is shown from the few reports that mention it otherwise.
        holding = held(reports)
        for svc in self.config.services:
            show = show_service(svc, effective_intent(svc, self.intents),
                                self.placement.get(svc.name, Assignment()),
                                holding.get(svc.name, {}), self.notes.get(svc.name, ""),
                                unreachable=unreachable)
            old = self.shown.get(svc.name)
            if old is not None and old.owner is not None and old.owner != show.owner:
                self.last_owner[svc.name] = old.owner
            if old is None or (old.state, old.owner) != (show.state, show.owner):
                where = f" on {self.names[show.owner]}" if show.owner else ""
                self.events.add(EventKind.SERVICE, node=self.names.get(show.owner or 0),
                                service=svc.name, detail=f"{show.state}{where}"
                                + (f" ({show.note})" if show.note else ""), state=show.state)
            self.shown[svc.name] = show

    # -- status and operator requests ----------------------------------------------------------
    def status(self) -> list[ServiceStatus]:
        rows = []
        local = self.local.report()
        reports = dict(self.reports)
        reports[self.local_id] = local
        for svc in self.config.services:
            show = self.shown.get(svc.name, ServiceShow("stopped", None, ""))
            intent = effective_intent(svc, self.intents)
            last = self.last_owner.get(svc.name)
            rows.append(ServiceStatus(
                name=svc.name, state=show.state,
                owner=self.names.get(show.owner) if show.owner else None,
                last_owner=self.names.get(last) if last else None,
                note=show.note, enabled=intent.enabled, frozen=intent.frozen,
                placement=self.names.get(self.placement.get(svc.name, Assignment()).node),
                since=(reports[show.owner].get(svc.name).since
                       if show.owner in reports else None),
                local=local.get(svc.name).state.value))
        return rows

    def request(self, service: str, action: str, node: str | None) -> str:
        """Record an operator request as a new intent (replicated by the caller)."""
        svc = self.config.service(service)  # KeyError names the known services
        if node is not None:
            if node not in self.ids:
                raise ValueError(f"unknown node {node!r} (known: {', '.join(self.ids)})")
            if svc.domain.restricted and svc.domain.priority(node) is None:
                raise ValueError(f"{node} is outside the restricted domain of {service} "
                                 f"({', '.join(n for n, _ in svc.domain.nodes)})")
        intent = effective_intent(svc, self.intents)
        choices: dict[str, dict[str, Any]] = {
            "enable": {"enabled": True, "frozen": False, "target": node},
            "disable": {"enabled": False, "target": None},
            "relocate": {"enabled": True, "target": node},
            "restart": {"restart": intent.restart + 1},
            "freeze": {"frozen": True},
            "unfreeze": {"frozen": False},
        }
        changes = choices[action]
        if action == "relocate" and node is None:
            changes["target"] = self._other_node(svc)
        self.intents[service] = intent.bump(self.local_id, **changes)
        self.dirty = True
        save_intents(self.intents_path, self.intents)
        self._sync_frozen()
        self.events.add(EventKind.REQUEST, service=service, node=node,
                        detail=f"{action}" + (f" to {node}" if node else ""))
        return f"{action} of {service} requested"

    def _other_node(self, svc: Any) -> str:
        owner = self.shown.get(svc.name)
        current = owner.owner if owner else None
        for name, _ in sorted(svc.domain.nodes, key=lambda x: x[1]):
            if self.ids[name] != current:
                return str(name)
        for name, node in self.ids.items():
            if node != current and not svc.domain.restricted:
                return name
        raise ValueError(f"no other node to relocate {svc.name} to")
