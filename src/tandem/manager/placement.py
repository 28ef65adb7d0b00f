"""Where services run: the coordinator's placement decisions. Pure functions.

Safety first (DESIGN.md §2): a service is assigned to a node only when no node could
still hold it — every member reports it stopped, and every other node is either known
never to have had it or is fenced / cleanly offline. A stop that failed blocks the
service and asks for the node to be fenced; it never leads to a start elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property

from tandem.config.model import ClusterConfig, ServiceDef
from tandem.manager.actions import Fence
from tandem.manager.model import (
    STORAGE_CAUSE,
    Assignment,
    Intent,
    LocalState,
    NodeReport,
    ServiceReport,
)
from tandem.membership.ledger import DOWN_SAFE, NodeState

NO_PRIORITY = 10_000
STOPPED = ServiceReport()  # what a node that never mentions a service reports for it
# The intents key of the cell's own intent (not a service name): `enabled` False while
# an operator holds the lock for a whole-cell shutdown (`clusvcadm -l`).
CELL_LOCK = "*"
LOCKED_NOTE = "locked for a cell shutdown: nothing starts until `clusvcadm -u`"


def cell_locked(intents: Mapping[str, Intent]) -> bool:
    """Is the cell locked: no service may start anywhere, failover included?"""
    lock = intents.get(CELL_LOCK)
    return lock is not None and not lock.enabled


def held(reports: Mapping[int, NodeReport]) -> dict[str, dict[int, NodeReport]]:
    """Per service, the nodes (in the order of `reports`) whose report shows it in any
    state but stopped. With hundreds of services almost every report says "stopped":
    the decisions about who runs what only need the others."""
    found: dict[str, dict[int, NodeReport]] = {}
    for node, report in reports.items():
        for name, mine in report.services.items():
            if mine.state is not LocalState.STOPPED:
                found.setdefault(name, {})[node] = report
    return found


@dataclass(frozen=True)
class ServiceView:
    """One consistent snapshot for the service decisions."""

    local_id: int
    now: float
    members: frozenset[int]
    node_ids: Mapping[str, int]
    node_states: Mapping[int, NodeState]
    online_since: Mapping[int, float]
    fenceable: frozenset[int]
    reports: Mapping[int, NodeReport]
    intents: Mapping[str, Intent]
    placement: Mapping[str, Assignment]

    @cached_property
    def locked(self) -> bool:
        return cell_locked(self.intents)

    @cached_property
    def holding(self) -> dict[str, dict[int, NodeReport]]:
        """`held(reports)`, computed once per snapshot."""
        return held(self.reports)

    def holders(self, service: str, state: LocalState) -> list[int]:
        """Members whose report shows `service` in `state` (not stopped), ascending."""
        found = self.holding.get(service, {})
        return sorted(n for n, r in found.items()
                      if n in self.members and r.services[service].state is state)


@dataclass
class ServiceDecision:
    """What the coordinator publishes after one round."""

    placement: dict[str, Assignment] = field(default_factory=dict)
    intents: dict[str, Intent] = field(default_factory=dict)
    fences: list[Fence] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)


def effective_intent(svc: ServiceDef, intents: Mapping[str, Intent]) -> Intent:
    """The operators' wish for `svc`, or the configured default."""
    return intents.get(svc.name, Intent(enabled=svc.autostart))


def report_of(view: ServiceView, node: int, service: str) -> ServiceReport:
    """What `node` last reported about `service` (stopped if nothing)."""
    report = view.reports.get(node)
    return STOPPED if report is None else report.services.get(service, STOPPED)


def could_hold(view: ServiceView, node: int, service: str) -> bool:
    """Might `node` still run (part of) `service`?"""
    state = view.node_states.get(node, NodeState.UNKNOWN)
    if state in DOWN_SAFE:
        return False
    report = view.reports.get(node)
    if report is None or not report.probed:
        return True  # it never told us what it runs
    mine = report.services.get(service, STOPPED)
    if mine.state.active:
        return True
    # Assigned to it, but it has not acted on that assignment yet: it may be starting.
    assigned = view.placement.get(service, Assignment())
    return assigned.node == node and mine.gen < assigned.gen


def blockers(view: ServiceView, service: str, exclude: int = 0) -> list[int]:
    """Nodes other than `exclude` that could hold `service` right now."""
    return sorted(n for n in view.node_states if n != exclude and could_hold(view, n, service))


def candidates(svc: ServiceDef, view: ServiceView, avoid: frozenset[int]) -> list[int]:
    """Online members that may run `svc`, most preferred first."""
    found = []
    for name, node in view.node_ids.items():
        prio = svc.domain.priority(name)
        if node not in view.members or view.node_states.get(node) != NodeState.ONLINE:
            continue
        if (svc.domain.restricted and prio is None) or node in avoid:
            continue
        report = view.reports.get(node)
        if report is None or not report.probed:
            continue
        found.append((prio if prio is not None else NO_PRIORITY, node))
    return [node for _, node in sorted(found)]


def _next_gen(view: ServiceView, service: str, assignment: Assignment) -> int:
    """A generation above every one in use for `service`, so that any node still
    carrying out an older one sees the change (nodes ignore older generations)."""
    seen = [r.services.get(service, STOPPED).gen for r in view.reports.values()]
    return max([assignment.gen, *seen]) + 1


def _change(view: ServiceView, service: str, assignment: Assignment,
            **changes: object) -> Assignment:
    """`assignment` with `changes` and a new generation."""
    return replace(assignment, gen=_next_gen(view, service, assignment),
                   **changes)  # type: ignore[arg-type]


def _normalize(view: ServiceView, service: str, assignment: Assignment) -> Assignment:
    """Make a placement that lags behind the reports (a coordinator that just took over,
    or just started) agree with what runs: adopt a lone running owner."""
    running = view.holders(service, LocalState.STARTED)
    owner = assignment.node
    if owner:
        owner_gen = report_of(view, owner, service).gen
        if owner_gen > assignment.gen:
            return replace(assignment, gen=owner_gen)
        return assignment
    if assignment.next == 0 and len(running) == 1:
        gen = view.reports[running[0]].get(service).gen
        if gen >= assignment.gen:
            return replace(assignment, node=running[0], gen=gen)
    return assignment


def decide_services(config: ClusterConfig, view: ServiceView) -> ServiceDecision:
    """One round of placement for every service (call only on the quorate coordinator)."""
    decision = ServiceDecision(placement=dict(view.placement), intents={})
    for svc in config.services:
        intent = effective_intent(svc, view.intents)
        assignment = _normalize(view, svc.name, view.placement.get(svc.name, Assignment()))
        if intent.frozen:
            decision.notes[svc.name] = "frozen: no monitoring, no recovery"
            continue
        if intent.stopped is not None and intent.stopped != view.members:
            # rgmanager starts a stopped service on the next node event: so do we.
            intent = intent.bump(view.local_id, stopped=None)
            decision.intents[svc.name] = intent
        if not intent.enabled or intent.stopped is not None:
            if intent.stopped is not None:
                decision.notes[svc.name] = "stopped by an operator: starts again on " \
                                           "enable or when a node joins or leaves"
            decision.placement[svc.name] = _stop_everywhere(view, svc.name, intent,
                                                            assignment)
            continue
        if not view.locked:  # a request waits for the unlock rather than half happen
            assignment = _apply_intent(svc, view, intent, assignment)
        decision.placement[svc.name] = _place(svc, view, intent, assignment, decision)
    return decision


def _stop_everywhere(view: ServiceView, service: str, intent: Intent,
                     assignment: Assignment) -> Assignment:
    """Disabled or stopped: assigned nowhere, with a new generation while any member
    still runs it."""
    running = [r.get(service) for n, r in view.reports.items() if n in view.members]
    if assignment.node or any(r.state.active and r.gen >= assignment.gen for r in running):
        assignment = _change(view, service, assignment, node=0, next=0)
    return replace(assignment, intent_seen=intent.version)


def _apply_intent(svc: ServiceDef, view: ServiceView, intent: Intent,
                  assignment: Assignment) -> Assignment:
    """Carry out operator requests not yet seen: relocation target, restart."""
    if intent.version <= assignment.intent_seen:
        return assignment
    assignment = replace(assignment, intent_seen=intent.version, avoid=frozenset())
    target = view.node_ids.get(intent.target) if intent.target else None
    if target and target != assignment.node:
        assignment = _change(view, svc.name, assignment, node=0, next=target)
    if intent.restart > assignment.restart_seen:
        assignment = replace(assignment, restart_seen=intent.restart,
                             gen=_next_gen(view, svc.name, assignment) if assignment.node
                             else assignment.gen)
    return assignment


def _place(svc: ServiceDef, view: ServiceView, intent: Intent, assignment: Assignment,
           decision: ServiceDecision) -> Assignment:
    # A fenced node's last report is void (it runs nothing), even while its last
    # heartbeats keep it inside the token window; one being fenced is not asked again.
    failed_stops = [n for n in view.holders(svc.name, LocalState.STOP_FAILED)
                    if view.node_states.get(n) not in DOWN_SAFE]
    if failed_stops:
        for node in failed_stops:
            if node in view.fenceable and view.node_states.get(node) == NodeState.ONLINE:
                decision.fences.append(Fence(node, f"stop of {svc.name} failed"))
        decision.notes[svc.name] = "blocked: a stop failed on " + \
            ", ".join(_name(view, n) for n in failed_stops)
        return replace(assignment, node=0) if assignment.node in failed_stops else assignment
    if assignment.node:
        assignment = _check_owner(svc, view, intent, assignment, decision)
    policy = decision.intents.get(svc.name)
    if assignment.node or (policy is not None and not policy.enabled):  # kept, or
        return assignment  # disabled by policy
    if view.locked:
        decision.notes[svc.name] = LOCKED_NOTE
        return assignment
    waiting = blockers(view, svc.name)
    silent = [n for n in waiting if view.node_states.get(n) == NodeState.ONLINE
              and not view.reports.get(n, NodeReport()).probed]
    if waiting and silent == waiting:
        decision.notes[svc.name] = "starting up: waiting for " + \
            ", ".join(_name(view, n) for n in silent) + " to report what it runs"
        return assignment
    if waiting:
        decision.notes[svc.name] = "waiting for " + ", ".join(
            f"{_name(view, n)} ({view.node_states.get(n, NodeState.UNKNOWN).value})"
            for n in waiting) + " to stop it or be fenced"
        return assignment
    return _choose(svc, view, assignment, decision)


def _choose(svc: ServiceDef, view: ServiceView, assignment: Assignment,
            decision: ServiceDecision) -> Assignment:
    """Nothing holds the service: pick its node (the operator's target first)."""
    choices = candidates(svc, view, assignment.avoid)
    if assignment.next in choices:
        choices.insert(0, assignment.next)
    if not choices:
        decision.notes[svc.name] = "no eligible node is online"
        return replace(assignment, next=0)
    joining = [] if choices[0] == assignment.next else _joining_first(svc, view, choices[0])
    if joining:
        decision.notes[svc.name] = "waiting for " + ", ".join(
            _name(view, n) for n in joining) + " (preferred) to join"
        return assignment
    return _change(view, svc.name, assignment, node=choices[0], next=0)


def _joining_first(svc: ServiceDef, view: ServiceView, choice: int) -> list[int]:
    """Domain nodes preferred to `choice` that are booting: they told us what they run
    (nothing) but membership has not admitted them yet (never seen since our start).
    When a cell boots together, the last node to appear is often a few hundred ms late;
    without this wait its services would start elsewhere and, without failback, stay
    there. Bounded: a node that stays unknown is fenced after the startup grace."""
    limit = svc.domain.priority(_name(view, choice))
    if limit is None:
        limit = NO_PRIORITY
    found = []
    for name, node in view.node_ids.items():
        prio = svc.domain.priority(name)
        if (prio is not None and prio < limit
                and view.node_states.get(node, NodeState.UNKNOWN) == NodeState.UNKNOWN
                and view.reports.get(node, NodeReport()).probed):
            found.append(node)
    return sorted(found)


def _check_owner(svc: ServiceDef, view: ServiceView, intent: Intent, assignment: Assignment,
                 decision: ServiceDecision) -> Assignment:
    """The service is assigned to a node: is that still right?"""
    owner = assignment.node
    state = view.node_states.get(owner, NodeState.UNKNOWN)
    if owner not in view.members or state != NodeState.ONLINE:
        if state in DOWN_SAFE:
            # A node loss is not a failure of the service: nodes it was moved away from
            # after failures are eligible again (better than running nowhere).
            decision.notes[svc.name] = f"{_name(view, owner)} is {state.value}: moving"
            return _change(view, svc.name, assignment, node=0, avoid=frozenset())
        decision.notes[svc.name] = f"waiting for {_name(view, owner)} ({state.value}) " \
                                   f"to be fenced"
        return assignment
    report = report_of(view, owner, svc.name)
    if report.state == LocalState.FAILED and report.gen == assignment.gen:
        return _recover(svc, view, intent, assignment, (report, decision))
    if svc.domain.failback and report.state == LocalState.STARTED and not view.locked:
        return _failback(svc, view, assignment)
    return assignment


def _recover(svc: ServiceDef, view: ServiceView, intent: Intent, assignment: Assignment,
             context: tuple[ServiceReport, ServiceDecision]) -> Assignment:
    """Apply the service's recovery policy to a failure on its owner (a failure of the
    owner's storage path is never restarted in place: the path would still fail)."""
    report, decision = context
    owner = assignment.node
    if svc.recovery == "disable":
        decision.intents[svc.name] = intent.bump(view.local_id, enabled=False, target=None)
        decision.notes[svc.name] = f"failed on {_name(view, owner)}: disabled by policy"
        return _change(view, svc.name, assignment, node=0,
                       intent_seen=intent.version + 1)
    recent = [t for t in report.restarts if view.now - t <= svc.restart_window_s]
    if svc.recovery == "fence":
        # The service stopped cleanly on the owner, so it may start elsewhere now; the
        # owner is powered off as well (a node with a failing part must not come back
        # into service by itself).
        decision.fences.append(Fence(owner, f"{svc.name} failed on {_name(view, owner)} "
                                            f"(recovery policy fence)"))
        decision.notes[svc.name] = f"failed on {_name(view, owner)}: relocating and " \
                                   f"fencing {_name(view, owner)} (policy fence)"
    elif report.cause == STORAGE_CAUSE:
        decision.notes[svc.name] = f"storage error on {_name(view, owner)}: relocating"
    elif svc.recovery == "restart" and len(recent) < svc.max_restarts:
        decision.notes[svc.name] = f"failed on {_name(view, owner)}: restarting in place " \
                                   f"({len(recent) + 1} of {svc.max_restarts})"
        return _change(view, svc.name, assignment)
    else:
        decision.notes[svc.name] = f"failed on {_name(view, owner)}: relocating"
    return _change(view, svc.name, assignment, node=0,
                   avoid=assignment.avoid | {owner})


def _failback(svc: ServiceDef, view: ServiceView, assignment: Assignment) -> Assignment:
    best = candidates(svc, view, frozenset())
    if not best or best[0] == assignment.node:
        return assignment
    preferred = best[0]
    owner_name = next(n for n, i in view.node_ids.items() if i == assignment.node)
    preferred_name = next(n for n, i in view.node_ids.items() if i == preferred)
    owner_prio = svc.domain.priority(owner_name)
    new_prio = svc.domain.priority(preferred_name)
    if new_prio is None or (owner_prio is not None and owner_prio <= new_prio):
        return assignment
    if view.now - view.online_since.get(preferred, view.now) < svc.domain.failback_delay_s:
        return assignment
    return _change(view, svc.name, assignment, node=0, next=preferred)


def _name(view: ServiceView, node: int) -> str:
    return next((n for n, i in view.node_ids.items() if i == node), str(node))
