"""Reading what `tandem status --json` answered on each node (tandem.fleet.remote's
STATUS): each node's state, and each cell's summary.

A node is, in order of gravity: unreachable (no answer), refused (it answered with an
error or with something that is not its own status), blank (no configuration), stopped
(a configuration but no daemon), stale (its daemon runs another configuration than the
source's: an older or newer version, or other content) or in sync. Only stale and in
sync nodes gave a status. A cell is unreachable when none of its selected members
answered, partial when some did not, else as grave as its gravest member.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from tandem.common.errors import TandemError
from tandem.common.status import CellStatus
from tandem.config import ClusterConfig
from tandem.fleet.remote import read_tagged
from tandem.fleet.report import CellOutcome, NodeOutcome, ServiceView
from tandem.fleet.source import CellTarget, ServiceLocation
from tandem.fleet.transport import NodeResult

GRAVITY = ("unreachable", "refused", "blank", "stopped", "stale", "in sync")
ANSWERED = ("stale", "in sync")
RUNNING_STATES = ("started", "starting", "stopping", "recovering", "frozen", "failed")
NOT_RUNNING = "is not running"  # how `tandem status` says there is no daemon


def node_verdict(target: CellTarget, result: NodeResult) -> tuple[NodeOutcome,
                                                                   CellStatus | None]:
    """One node's outcome, and its status when it gave one."""
    node = result.node
    if not result.reached:
        return NodeOutcome(node, "unreachable", False, result.reason), None
    tagged = read_tagged(result.stdout)
    if result.rc != 0:
        if NOT_RUNNING in result.stderr:
            state = "blank" if tagged.blank else "stopped"
            detail = "no configuration installed" if tagged.blank else "tandemd is not running"
            return NodeOutcome(node, state, False, detail), None
        return NodeOutcome(node, "refused", False, result.reason), None
    try:
        status = CellStatus.from_json(json.loads(tagged.rest), f"status of {node}")
    except (ValueError, TandemError) as exc:
        return NodeOutcome(node, "refused", False, f"unreadable status: {exc}"), None
    if status.cluster != target.name or status.local != node:
        return NodeOutcome(node, "refused", False, f"answers as {status.local} of cell "
                                                   f"{status.cluster}"), None
    state, detail = _config_state(target, status.config_version, tagged.config_hash)
    mine = tuple(s.name for s in status.services
                 if s.owner == node and s.state in RUNNING_STATES)
    member = status.node(node)
    detail = ", ".join(x for x in (member.state if member else "", detail) if x)
    return NodeOutcome(node, state, True, detail, status.config_version, mine), status


def _config_state(target: CellTarget, version: int, sha: str | None) -> tuple[str, str]:
    if version < target.config_version:
        return "stale", f"runs version {version} < {target.config_version}"
    if version > target.config_version:
        return "stale", f"runs version {version} > {target.config_version} (source behind)"
    if sha and target.config_hash and sha != target.config_hash:
        return "stale", "installed file differs from the source"
    return "in sync", ""


def cell_verdict(target: CellTarget, config: ClusterConfig | None,
                 nodes: Sequence[NodeOutcome],
                 statuses: Sequence[CellStatus]) -> CellOutcome:
    """The cell's summary; its services as the coordinator (or any member) sees them."""
    view = next((s for s in statuses if s.coordinator == s.local),
                statuses[0] if statuses else None)
    services = tuple(ServiceView(s.name, s.state, s.owner, home_node(config, s.name))
                     for s in (view.services if view else ()))
    return CellOutcome(target.name, target.kind, _cell_state(nodes), target.config_version,
                       tuple(nodes), services, view.local if view else None)


def _cell_state(nodes: Sequence[NodeOutcome]) -> str:
    unreachable = [n for n in nodes if n.state == "unreachable"]
    if len(unreachable) == len(nodes):
        return "unreachable"
    if unreachable:
        return "partial"
    return min((n.state for n in nodes), key=GRAVITY.index)


def home_node(config: ClusterConfig | None, service: str) -> str | None:
    if config is None:
        return None
    try:
        domain = config.service(service).domain
    except KeyError:
        return None
    ranked = sorted(enumerate(domain.nodes), key=lambda item: (item[1][1], item[0]))
    return ranked[0][1][0] if ranked else None


def locations(cell: CellOutcome) -> list[ServiceLocation]:
    """Where the cell said its services run (what the source records)."""
    return [ServiceLocation(s.name, s.owner, s.state) for s in cell.services]
