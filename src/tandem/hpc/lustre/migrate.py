"""What `lustre_migrate` decides, without I/O: the pair status of each Lustre I/O node,
and which service request (if any) each of its commands makes for a node.

Every node N that is the primary of Lustre targets has one failover service,
`lustre_N` (tandem.hpc.lustre.services); its peer is the other node of that service's
domain, the node it fails over to. A node's status is the status of its own service,
as the cell sees it (one quorate member's `tandem status`, the coordinator's first):

- OK: lustre_N is started on N.
- MIGRATED: lustre_N is started on another node (its peer): the targets are served,
  but the pair is no longer highly available until an operator relocates it home.
- WARNING: the targets are not known to be lost, but nothing is settled: lustre_N is
  starting, stopping or recovering (a migration may be under way), frozen (it runs
  unmonitored), or disabled (stopped by an operator with hastop, or never started
  with hastart since the cell started: the cell is doing what it was told).
- CRITICAL: the targets are not served and the cell will not serve them by itself:
  lustre_N failed, or is enabled but runs nowhere (stopped: no node may take it), or
  the cell runs no such service, or the cell cannot tell (no member answered, the
  members that answered are not quorate, its configuration does not load).

Commands (each for the nodes selected, on their own service only):

- hastart: enable lustre_N on N. N must be up (it answered and its cell counts it
  online); a service already started (on N or on its peer) is left as it is. Without
  --force, one node that is not up (or another refusal) stops the whole command before
  anything is sent, so that a file system starts on all its nodes or on none; with
  --force, a service whose node is not up is started on its peer, and one that fails
  to start on N is started on its peer if it then runs nowhere. --force overrides only
  the tool's refusal: the cell still fences a node before it takes its service.
- hastop: disable lustre_N wherever it runs.
- export: relocate lustre_N to its peer (the peer must be up); nothing to do when it
  runs there already. The services N holds for its peer stay where they are (the
  manual's export moves N's own service only): the outcome names them.
- relocate: relocate lustre_N back to N (N must be up); nothing to do when it runs on
  N already. There is no automatic failback: this is how an operator fails back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tandem.common.status import CellStatus, ServiceStatus
from tandem.config import ClusterConfig
from tandem.hpc.lustre.services import SERVICE_PREFIX, primary_of, service_name

OK, WARNING, MIGRATED, CRITICAL = "OK", "WARNING", "MIGRATED", "CRITICAL"
STATUSES = (OK, WARNING, MIGRATED, CRITICAL)
COMMANDS = ("hastart", "hastop", "export", "relocate")
TRANSIENT = ("starting", "stopping", "recovering")


@dataclass(frozen=True)
class LustreNode:
    """A node that is the primary of a `lustre_<node>` service, and its peer."""

    node: str
    cell: str
    service: str
    peer: str | None  # the next node of the service's domain (None: nowhere to go)


@dataclass(frozen=True)
class CellView:
    """What one cell answered: the status document used (a quorate member's), the
    members that answered, and why there is no usable document when there is none."""

    cell: str
    status: CellStatus | None
    reached: tuple[str, ...] = ()
    problem: str = ""

    def up(self, node: str | None) -> bool:
        """`node` answered and its cell counts it online."""
        if node is None or self.status is None or node not in self.reached:
            return False
        member = self.status.node(node)
        return member is not None and member.state == "online"

    def node_state(self, node: str) -> str:
        """How the cell sees `node` (online, offline, fenced, ...), "unreachable"
        added when the management node could not reach it."""
        member = self.status.node(node) if self.status is not None else None
        state = member.state if member is not None else "unknown"
        return state if node in self.reached else f"{state}, unreachable"

    def lustre_on(self, node: str) -> list[str]:
        """The lustre_ services running (or held) on `node`."""
        if self.status is None:
            return []
        return [s.name for s in self.status.services
                if s.name.startswith(SERVICE_PREFIX) and s.owner == node]


@dataclass(frozen=True)
class NodeStatus:
    """A node's pair status and what it rests on."""

    node: str
    cell: str
    service: str
    peer: str | None
    status: str  # one of STATUSES
    state: str  # the service's state as the cell shows it ("unknown" without a view)
    owner: str | None
    detail: str

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


def lustre_nodes(cell: str, config: ClusterConfig) -> list[LustreNode]:
    """The nodes of `config` that have a `lustre_<node>` service, in member order."""
    members = [n.name for n in config.nodes]
    found = []
    for node in members:
        name = service_name(node)
        svc = next((s for s in config.services if s.name == name), None)
        if svc is None:
            continue
        ranked = [n for n, _ in sorted(svc.domain.nodes, key=lambda item: item[1])]
        peer = next((n for n in ranked if n != node), None)
        found.append(LustreNode(node, cell, name, peer))
    return found


def has_lustre(config: ClusterConfig) -> bool:
    """The cell has at least one `lustre_<member>` service."""
    return any(primary_of(s.name) in {n.name for n in config.nodes}
               for s in config.services)


def node_status(lnode: LustreNode, view: CellView) -> NodeStatus:
    """The pair status of `lnode` (see the module's text for the rules)."""
    def made(status: str, state: str, owner: str | None, detail: str) -> NodeStatus:
        return NodeStatus(lnode.node, lnode.cell, lnode.service, lnode.peer, status,
                          state, owner, detail)

    if view.status is None:
        return made(CRITICAL, "unknown", None, view.problem or "no status")
    svc = view.status.service(lnode.service)
    if svc is None:
        return made(CRITICAL, "unknown", None, f"cell {lnode.cell} runs no {lnode.service} "
                                               f"(configuration version "
                                               f"{view.status.config_version})")
    status, detail = _judge(lnode, svc, view)
    if svc.note and svc.note not in detail:
        detail = f"{detail}; {svc.note}" if detail else svc.note
    return made(status, svc.state, svc.owner, detail)


def _judge(lnode: LustreNode, svc: ServiceStatus, view: CellView) -> tuple[str, str]:
    where = f" on {svc.owner}" if svc.owner else ""
    home = "" if view.up(lnode.node) else f"; {lnode.node} is {view.node_state(lnode.node)}"
    if svc.state == "started":
        if svc.owner == lnode.node:
            return OK, f"started on {lnode.node}"
        return MIGRATED, f"started on {svc.owner}{home}"
    judged = {
        "frozen": (WARNING, f"frozen{where}: runs unmonitored"),
        "disabled": (WARNING, "disabled: stopped by an operator (hastop) or not started "
                              "(hastart)"),
        "failed": (CRITICAL, f"failed{where}{home}"),
    } | {state: (WARNING, f"{state}{where} (a migration may be under way){home}")
         for state in TRANSIENT}
    return judged.get(svc.state, (CRITICAL, f"{svc.state}: enabled but runs nowhere{home}"))


def unknown_status(node: str, cell: str, problem: str) -> NodeStatus:
    """A member of a cell whose services cannot be known (its configuration does not
    load): CRITICAL."""
    return NodeStatus(node, cell, service_name(node), None, CRITICAL, "unknown", None,
                      problem)


def pairs(statuses: Sequence[NodeStatus],
          others: Sequence[NodeStatus] = ()) -> list[tuple[NodeStatus, NodeStatus | None]]:
    """One row per pair: each node of `statuses` with its peer (from `statuses`, else
    from `others`, else None); a peer already shown with its own peer is not repeated."""
    known = {s.node: s for s in [*others, *statuses]}
    shown: set[str] = set()
    rows = []
    for status in statuses:
        if status.node in shown:
            continue
        peer = known.get(status.peer or "")
        if peer is not None and peer.node in shown:
            peer = None
        rows.append((status, peer))
        shown.add(status.node)
        if peer is not None:
            shown.add(peer.node)
    return rows


# -- the commands' requests --------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    """A service request as `tandem svc` makes it, sent to member `via` of the cell."""

    action: str  # enable, disable or relocate
    service: str
    target: str | None  # the node to start or relocate it on (None: disable)
    via: str

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass(frozen=True)
class Step:
    """What a command does for one node: a request to send, or nothing (with why)."""

    node: str
    cell: str
    service: str
    request: Request | None
    refused: bool = False
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"node": self.node, "cell": self.cell, "service": self.service,
                "request": self.request.to_json() if self.request else None,
                "refused": self.refused, "detail": self.detail}


def plan(command: str, lnode: LustreNode, view: CellView, *, force: bool = False) -> Step:
    """The step `command` takes for `lnode`, from what its cell answered."""
    if view.status is None:
        return _refused(lnode, f"cell {lnode.cell}: {view.problem or 'no status'}")
    svc = view.status.service(lnode.service)
    if svc is None:
        return _refused(lnode, f"cell {lnode.cell} runs no {lnode.service}")
    planners = {"hastart": _hastart, "hastop": _hastop, "export": _export,
                "relocate": _relocate}
    return planners[command](lnode, svc, view, force)


def _step(lnode: LustreNode, request: Request | None, detail: str) -> Step:
    return Step(lnode.node, lnode.cell, lnode.service, request, False, detail)


def _refused(lnode: LustreNode, detail: str) -> Step:
    return Step(lnode.node, lnode.cell, lnode.service, None, True, detail)


def _hastart(lnode: LustreNode, svc: ServiceStatus, view: CellView, force: bool) -> Step:
    node, peer = lnode.node, lnode.peer
    if svc.state in ("started", "starting"):
        more = "" if svc.owner == node else f" (relocate -n {node} brings it home)"
        return _step(lnode, None, f"already {svc.state} on {svc.owner}{more}")
    if svc.state in ("stopping", "recovering", "frozen"):
        return _refused(lnode, f"{lnode.service} is {svc.state}"
                               f"{' on ' + svc.owner if svc.owner else ''}: wait, or "
                               f"hastop it first")
    if view.up(node):
        return _step(lnode, Request("enable", lnode.service, node, node),
                     f"start on {node}")
    if not force:
        return _refused(lnode, f"{node} is {view.node_state(node)}: hastart --force "
                               f"starts {lnode.service} on {peer or 'its peer'}")
    if view.up(peer):
        assert peer is not None
        return _step(lnode, Request("enable", lnode.service, peer, peer),
                     f"{node} is {view.node_state(node)}: start on its peer {peer}")
    return _refused(lnode, f"neither {node} nor its peer {peer or '(none)'} is up")


def _hastop(lnode: LustreNode, svc: ServiceStatus, view: CellView, force: bool) -> Step:
    if svc.state == "disabled":
        return _step(lnode, None, "already disabled")
    via = next((n for n in (svc.owner, lnode.node, lnode.peer) if n in view.reached),
               view.status.local if view.status else lnode.node)
    where = f" on {svc.owner}" if svc.owner else ""
    return _step(lnode, Request("disable", lnode.service, None, via), f"stop{where}")


def _export(lnode: LustreNode, svc: ServiceStatus, view: CellView, force: bool) -> Step:
    peer = lnode.peer
    if peer is None:
        return _refused(lnode, f"{lnode.service} has no peer to go to")
    kept = [s for s in view.lustre_on(lnode.node) if s != lnode.service]
    note = f"; {lnode.node} still holds {', '.join(kept)} (relocate -n " \
           f"{','.join(primary_of(s) or s for s in kept)} sends it home)" if kept else ""
    if svc.state == "started" and svc.owner == peer:
        return _step(lnode, None, f"already on its peer {peer}{note}")
    if svc.state != "started":
        return _refused(lnode, f"{lnode.service} is {svc.state}: nothing to move "
                               f"(hastart -n {lnode.node} starts it)")
    if not view.up(peer):
        return _refused(lnode, f"its peer {peer} is {view.node_state(peer)}")
    return _step(lnode, Request("relocate", lnode.service, peer, peer),
                 f"move from {svc.owner} to {peer}{note}")


def _relocate(lnode: LustreNode, svc: ServiceStatus, view: CellView, force: bool) -> Step:
    node = lnode.node
    if svc.state == "started" and svc.owner == node:
        return _step(lnode, None, f"already on {node}")
    if svc.state != "started":
        return _refused(lnode, f"{lnode.service} is {svc.state}: nothing to relocate "
                               f"(hastart -n {node} starts it)")
    if not view.up(node):
        return _refused(lnode, f"{node} is {view.node_state(node)}")
    return _step(lnode, Request("relocate", lnode.service, node, node),
                 f"move from {svc.owner} back to {node}")


def rounds(requests: Sequence[Request]) -> list[list[Request]]:
    """The requests in rounds where no member gets two at once (each one waits for its
    outcome on that member): the first request for each member, then the second..."""
    out: list[list[Request]] = []
    for request in requests:
        slot = next((r for r in out if all(q.via != request.via for q in r)), None)
        if slot is None:
            out.append([request])
        else:
            slot.append(request)
    return out
