"""How a service looks to people and monitoring: one state, its owner, and why."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tandem.config.model import ServiceDef
from tandem.manager.model import Assignment, Intent, LocalState, NodeReport

_FROM_LOCAL = {
    LocalState.STARTED: "started",
    LocalState.STARTING: "starting",
    LocalState.STOPPING: "stopping",
    LocalState.STOP_FAILED: "failed",
    LocalState.FAILED: "recovering",
}


@dataclass(frozen=True)
class ServiceShow:
    """One line of the service table."""

    state: str
    owner: int | None
    note: str


def show_service(svc: ServiceDef, intent: Intent, assignment: Assignment,
                 reports: Mapping[int, NodeReport], note: str) -> ServiceShow:
    """Combine operator intent, placement and node reports into one display state:
    stopped, starting, started, stopping, failed, disabled, recovering or frozen."""
    owner = _owner(svc.name, assignment, reports)
    report = reports[owner].get(svc.name) if owner is not None else None
    local = report.state if report is not None else None
    if intent.frozen:
        return ServiceShow("frozen", owner, note)
    if not intent.enabled:
        state = "stopping" if local is not None and local.active else "disabled"
        return ServiceShow(state, owner if state == "stopping" else None, note)
    if local is not None and local in _FROM_LOCAL:
        state = _FROM_LOCAL[local]
        if report is not None and local == LocalState.STOP_FAILED:
            note = note or report.error
        return ServiceShow(state, owner, note)
    if note.startswith(("waiting", "blocked")) or (assignment.node == 0 and assignment.next):
        return ServiceShow("recovering", None, note)
    if assignment.node:
        return ServiceShow("starting", assignment.node, note)
    return ServiceShow("stopped", None, note)


def _owner(service: str, assignment: Assignment,
           reports: Mapping[int, NodeReport]) -> int | None:
    holding = [n for n, r in reports.items()
               if r.get(service).state != LocalState.STOPPED]
    if assignment.node in holding:
        return assignment.node
    active = [n for n in holding if reports[n].get(service).state.active]
    found = active or holding
    return found[0] if found else None
