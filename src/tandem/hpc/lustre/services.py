"""The `lustre_<node>` services of a Lustre I/O cell, made from the inventory's targets
(the manual's one failover service per I/O node, named after its primary node).

Every member that is the primary of a target gets one service holding, as
`lustre_target` resources, all the targets whose primary it is: when one of them fails,
they all move to the peer together and the node they failed on is powered off
(recovery "fence": the manual's rule for a Lustre SPOF, migration then power-off), as
the manual's failover script moved a node's whole set of Lustre services; the peer
serves its own targets and those of the failed node (mutual takeover).

- File systems: the inventory has no "active" flag (the manual's LDAP directory said
  which file systems were started), so every Lustre file system with a target on the
  cell's nodes is served; removing a file system or a target from the inventory takes
  it out at the next configuration version.
- Order: the MGT, then the MDTs, then the OSTs (Lustre's start order: the management
  server first, metadata before objects), each kind by file system then target name;
  stopped in reverse. One service never holds the MDT and an OST of one file system.
- Mount points: /srv/lustre/<fs>/<target> on the serving node. The file system's
  `mount_point` in the inventory is where clients mount it and is not used here. The
  `device` is the same path on both nodes (a persistent name such as /dev/mapper/...).
- Domain: the primary, then the secondary, and no other node (they are the two that see
  the LUNs); no failback: a repaired primary takes its targets back only when the
  operator moves them (`lustre_migrate relocate`); not started at boot (autostart
  false): `lustre_migrate hastart` starts them, so a file system starts on all its
  nodes together.
- Clients: tandem does not manage Lustre clients. A file system's clients mount it
  after the services holding its targets have started, and unmount it before any of
  those services is stopped.

Refused, each in one line naming the target or node (InventoryInvalid, so the change
that led to it is undone): a target without a secondary; a target whose primary and
secondary are not both members of the cell (the inventory does not record which LUNs
a node sees, so membership of the one cell is what "both see its LUN" is checked as);
two targets on one device of a cell; a node that is the primary of the MDT and of an
OST of one file system (its failure would be a double one); the targets of one node
naming different secondaries (they fail over together); two MGTs on one node; a
target of a file system that is not Lustre's; an MDT or OST name that is not the
Lustre name (fs1-MDT0000, fs1-OST000a); an MDT or OST on the nodes of a cell that is
not a lustre cell. Being the secondary of an OST of a file system whose MDT a node
serves is allowed: the manual's own two-node layout crosses them that way. An MGT on
another kind of cell is left to that cell's own services (the management pair runs
the MGS).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tandem.config.model import DomainDef, ResourceDef, ServiceDef
from tandem.inventory.errors import InventoryInvalid
from tandem.inventory.snapshot import CellSnap, TargetSnap

SERVICE_PREFIX = "lustre_"
AGENT = "lustre_target"
MOUNT_ROOT = "/srv/lustre"
KINDS = ("mgt", "mdt", "ost")  # the order targets are started in
LUSTRE_CELL = "lustre"
LUSTRE_FS = "lustre"
MGS = "MGS"  # the name Lustre gives a management target


def service_name(node: str) -> str:
    """The service holding the targets whose primary is `node`."""
    return f"{SERVICE_PREFIX}{node}"


def primary_of(service: str) -> str | None:
    """The node a `lustre_<node>` service is named after (None for other services)."""
    if not service.startswith(SERVICE_PREFIX):
        return None
    return service[len(SERVICE_PREFIX):] or None


def mountpoint(filesystem: str, target: str) -> str:
    """Where the serving node mounts a target."""
    return f"{MOUNT_ROOT}/{filesystem}/{target}"


def lustre_name(kind: str, name: str) -> str:
    """The name Lustre knows a target by (fs1-OST0000; MGS for a management target)."""
    return MGS if kind == "mgt" else name


def start_order(target: TargetSnap) -> tuple[int, str, str]:
    return KINDS.index(target.kind), target.filesystem, target.name


def cell_services(cell: CellSnap) -> list[tuple[ServiceDef, str]]:
    """(service, note for the generated file) for each member that is the primary of
    a target; InventoryInvalid naming the first thing refused."""
    held = held_targets(cell)
    if not held:
        return []
    check_targets(cell, held)
    made = []
    for member in cell.members:
        node = member.node.name
        mine = sorted((t for t in held if t.primary == node), key=start_order)
        if mine:
            note = (f"the Lustre targets whose primary is {node}, from the inventory; "
                    f"started by lustre_migrate hastart, not at boot")
            made.append((node_service(node, mine), note))
    return made


def node_service(node: str, targets: Sequence[TargetSnap]) -> ServiceDef:
    """`lustre_<node>` for `targets` (checked, in start order, one secondary)."""
    resources = tuple(ResourceDef(t.name, AGENT, {
        "device": t.device, "mountpoint": mountpoint(t.filesystem, t.name),
        "target": lustre_name(t.kind, t.name)}) for t in targets)
    secondary = targets[0].secondary or ""
    domain = DomainDef(((node, 1), (secondary, 2)), restricted=True, failback=False)
    return ServiceDef(service_name(node), resources, domain, autostart=False,
                      recovery="fence")


def held_targets(cell: CellSnap) -> list[TargetSnap]:
    """The targets the cell's services hold: all of a lustre cell's; none elsewhere,
    where an MDT or OST is refused."""
    if cell.kind == LUSTRE_CELL:
        return list(cell.targets)
    stray = next((t for t in cell.targets if t.kind != "mgt"), None)
    if stray is not None:
        raise InventoryInvalid(f"target {stray.name} of {stray.filesystem}: its nodes are in "
                               f"cell {cell.name}, a {cell.kind} cell; MDTs and OSTs are "
                               f"served by lustre cells (db set cell {cell.name} --kind "
                               f"lustre)")
    return []


def check_targets(cell: CellSnap, targets: Sequence[TargetSnap]) -> None:
    """Each target on its own, then what each node would serve."""
    members = {mb.node.name for mb in cell.members}
    devices: dict[str, TargetSnap] = {}
    for target in targets:
        _check_target(cell, members, target)
        other = devices.setdefault(target.device, target)
        if other is not target:
            raise InventoryInvalid(f"cell {cell.name}: targets {other.name} and "
                                   f"{target.name} are both on {target.device}: a device "
                                   f"holds one target")
    for member in cell.members:
        _check_node(cell.name, member.node.name,
                    [t for t in targets if t.primary == member.node.name])


def _check_target(cell: CellSnap, members: set[str], target: TargetSnap) -> None:
    what = f"target {target.name} of {target.filesystem}"
    if target.fs_type != LUSTRE_FS:
        raise InventoryInvalid(f"{what}: {target.filesystem} is a {target.fs_type} file "
                               f"system; targets belong to Lustre file systems")
    if target.kind != "mgt":
        word = target.kind.upper()
        pattern = rf"{re.escape(target.filesystem)}-{word}[0-9a-fA-F]{{4}}"
        if not re.fullmatch(pattern, target.name):
            raise InventoryInvalid(f"{what}: expected its Lustre name, {target.filesystem}-"
                                   f"{word} and a 4-digit hex index (such as "
                                   f"{target.filesystem}-{word}0000)")
    if target.secondary is None:
        raise InventoryInvalid(f"{what} has no secondary node to fail over to (db set "
                               f"target {target.filesystem} {target.name} --secondary NODE)")
    outside = [n for n in (target.primary, target.secondary) if n not in members]
    if outside or target.primary == target.secondary:
        raise InventoryInvalid(f"{what}: its primary {target.primary} and secondary "
                               f"{target.secondary} must be two members of cell "
                               f"{cell.name}, the pair that sees its LUN")


def _check_node(cell: str, node: str, mine: Sequence[TargetSnap]) -> None:
    secondaries = sorted({t.secondary or "" for t in mine})
    if len(secondaries) > 1:
        raise InventoryInvalid(f"cell {cell}: the targets of {node} move together "
                               f"({service_name(node)}) but name different secondaries "
                               f"({', '.join(secondaries)}): give them one")
    mgts = [t for t in mine if t.kind == "mgt"]
    if len(mgts) > 1:
        raise InventoryInvalid(f"cell {cell}: {node} would serve two MGTs ({mgts[0].name} "
                               f"of {mgts[0].filesystem}, {mgts[1].name} of "
                               f"{mgts[1].filesystem}): a node runs one MGS")
    for fs in sorted({t.filesystem for t in mine}):
        mdt = next((t for t in mine if t.filesystem == fs and t.kind == "mdt"), None)
        ost = next((t for t in mine if t.filesystem == fs and t.kind == "ost"), None)
        if mdt is not None and ost is not None:
            raise InventoryInvalid(f"cell {cell}: {node} would be the primary of {mdt.name} "
                                   f"and {ost.name}, the MDT and an OST of {fs}: its failure "
                                   f"would fail both; put them on different nodes")
