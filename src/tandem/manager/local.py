"""What the local node does with its own services: follow the coordinator's placement,
but keep its own safety checks. Pure.

This node is the only authority on what it runs. It starts what is assigned here and
stops what is not, except that:
- without quorum it stops everything it holds (DESIGN.md §2.2), whatever the placement;
- it never starts a service that another node could still hold (§2.1), even when the
  coordinator asked for it (a coordinator's view may lag behind this node's);
- a service found running at start-up is adopted, not restarted, when it is the one
  assigned here;
- while the cell is locked for a shutdown (`clusvcadm -l`) it starts nothing, not even
  a restart in place: stops go on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from tandem.manager.actions import Adopt, Recover, Restart, ServiceAction, Start, Stop
from tandem.manager.model import Assignment, LocalState, NodeReport, ServiceReport
from tandem.manager.view import LocalFacts

FOUND_RUNNING = -1  # gen of a service found running at probe: adopt the assignment's
IDLE = LocalFacts()


def reconcile(services: Sequence[str], report: NodeReport, local: Mapping[str, LocalFacts],
              *, my_id: int, quorate: bool, placement: Mapping[str, Assignment] | None,
              frozen: frozenset[str], may_start: Callable[[str], bool],
              locked: bool = False) -> list[ServiceAction]:
    """Start what is assigned here (when safe), stop what is not, for every service of
    `services` (the configured ones) and every one still running here. `placement` is
    None while no coordinator's placement is trusted: then only the quorum rule acts."""
    if not report.probed:
        return []  # what runs here is not known yet
    actions: list[ServiceAction] = []
    known = set(services)
    extra = [n for n in [*report.services, *local] if n not in known]
    for name in [*services, *dict.fromkeys(extra)]:
        facts = local.get(name, IDLE)
        if facts.busy or facts.removed:
            continue
        mine = report.get(name)
        if not quorate:
            if mine.state.active or mine.state == LocalState.FAILED:
                actions.append(Stop(name, "quorum lost"))
            continue
        if name in frozen or placement is None:
            continue
        action = follow(name, mine, placement.get(name, Assignment()), my_id, may_start)
        if locked and isinstance(action, Start | Recover | Restart):
            continue  # the coordinator's placement may predate the lock
        if action is not None:
            actions.append(action)
    return actions


def follow(name: str, mine: ServiceReport, wanted: Assignment, my_id: int,
           may_start: Callable[[str], bool]) -> ServiceAction | None:
    """The one action (if any) that brings `name` here in line with `wanted`."""
    state, gen = mine.state, mine.gen
    if wanted.node != my_id:
        # Only a newer generation moves it away: a coordinator that has just taken
        # over and does not know yet that it runs here must not stop it.
        moved = state.active and state != LocalState.STOP_FAILED and wanted.gen > gen
        return Stop(name, "not assigned here") if moved else None
    action: ServiceAction | None = None
    if state == LocalState.STARTED:
        if gen == FOUND_RUNNING:
            action = Adopt(name, wanted.gen)
        elif gen < wanted.gen:
            action = Restart(name, wanted.gen)
    elif state == LocalState.STOPPED:
        action = Start(name, wanted.gen)
    elif state == LocalState.FAILED and gen < wanted.gen:
        # A failed service waits for the coordinator's verdict (a new generation).
        action = Recover(name, wanted.gen)
    if isinstance(action, Start | Recover) and not may_start(name):
        return None  # another node could still hold it: not here, not yet
    return action
