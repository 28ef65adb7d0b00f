"""How the cell's services look from this node: one state and owner per service, an
event when that changes, and the rows of `tandem status`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from tandem.common.events import EventKind
from tandem.common.status import ServiceStatus
from tandem.config import ClusterConfig
from tandem.daemon.events import EventLog
from tandem.daemon.services.store import ServiceStore
from tandem.manager.decide import service_view
from tandem.manager.display import ServiceShow, show_service
from tandem.manager.model import Assignment, Intent, NodeReport
from tandem.manager.placement import ServiceView, effective_intent, held
from tandem.manager.view import CellView
from tandem.membership.ledger import DOWN_SAFE


class ServiceDisplay:
    """The service table as last shown, and who owned each service before."""

    def __init__(self, events: EventLog, names: Mapping[int, str]) -> None:
        self.events = events
        self.names = names
        self.shown: dict[str, ServiceShow] = {}
        self.last_owner: dict[str, int] = {}

    def owner(self, service: str) -> int | None:
        show = self.shown.get(service)
        return show.owner if show else None

    def redraw(self, config: ClusterConfig, view: CellView, store: ServiceStore) -> None:
        """Redraw after a round of the cycle `view`, with what the store holds now (the
        round's placement and intents)."""
        assert view.services is not None
        after = replace(service_view(view, view.services, store.placement),
                        intents=dict(store.intents))
        self.record(config, after, store.notes)

    def record(self, config: ClusterConfig, view: ServiceView,
               notes: Mapping[str, str]) -> None:
        """Redraw the table from `view` (after a round); an event per change."""
        reports = {n: r for n, r in view.reports.items()
                   if view.node_states.get(n) not in DOWN_SAFE}
        unreachable = frozenset(n for n in reports if n not in view.members)
        # A node whose report says "stopped" plays no part in how a service looks: each
        # service is shown from the few reports that mention it otherwise.
        holding = held(reports)
        for svc in config.services:
            show = show_service(svc, effective_intent(svc, view.intents),
                                view.placement.get(svc.name, Assignment()),
                                holding.get(svc.name, {}), notes.get(svc.name, ""),
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

    def rows(self, config: ClusterConfig, reports: Mapping[int, NodeReport],
             local_id: int, intents: Mapping[str, Intent],
             placement: Mapping[str, Assignment]) -> list[ServiceStatus]:
        """The services part of `tandem status`."""
        rows = []
        local = reports[local_id]
        for svc in config.services:
            show = self.shown.get(svc.name, ServiceShow("stopped", None, ""))
            intent = effective_intent(svc, intents)
            last = self.last_owner.get(svc.name)
            owner = show.owner
            rows.append(ServiceStatus(
                name=svc.name, state=show.state,
                owner=self.names.get(owner) if owner else None,
                last_owner=self.names.get(last) if last else None,
                note=show.note, enabled=intent.enabled, frozen=intent.frozen,
                placement=self.names.get(placement.get(svc.name, Assignment()).node),
                since=(reports[owner].get(svc.name).since
                       if owner is not None and owner in reports else None),
                local=local.get(svc.name).state.value))
        return rows
