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
                 reports: Mapping[int, NodeReport], note: str,
                 *, unreachable: frozenset[int] = frozenset()) -> ServiceShow:
    """Combine operator intent, placement and node reports into one display state:
    stopped, starting, started, stopping, failed, disabled, recovering or frozen.

    `reports` must not contain nodes known to run nothing (fenced, cleanly offline);
    a report from an `unreachable` node is its last word, not the present: a service it
    held is shown recovering, with that node as owner until it is fenced."""
    owner = _owner(svc.name, assignment, reports)
    report = reports[owner].get(svc.name) if owner is not None else None
    if intent.frozen:
        return ServiceShow("frozen", owner, note)
    if not intent.enabled:
        stopping = report is not None and report.state.active
        return ServiceShow("stopping" if stopping else "disabled",
                           owner if stopping else None, note)
    if owner is not None and report is not None:
        if owner in unreachable and report.state != LocalState.FAILED:
            return ServiceShow("recovering", owner, note or "its node is unreachable")
        if report.state in _FROM_LOCAL:
            error = report.error if report.state == LocalState.STOP_FAILED else ""
            return ServiceShow(_FROM_LOCAL[report.state], owner, note or error)
    return _show_unowned(svc, assignment, reports, note)


def _show_unowned(svc: ServiceDef, assignment: Assignment,
                  reports: Mapping[int, NodeReport], note: str) -> ServiceShow:
    """A service that no node holds right now."""
    failed_here = any(r.get(svc.name).state == LocalState.FAILED for r in reports.values())
    if note.startswith("no eligible") and failed_here:
        return ServiceShow("failed", None, "failed on every eligible node: " + note)
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
