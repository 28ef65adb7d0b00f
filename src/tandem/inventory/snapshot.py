"""A plain, immutable copy of what the inventory says about its cells: what generation
reads (tandem.inventory.generate stays pure: no session, no database), and what a write
compares before and after to know which cells changed.

The parts reuse the configuration model's types (interfaces, BMC, fence devices,
services), so that the generator only assembles them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from tandem.config.model import (
    BmcDef,
    DomainDef,
    FenceDeviceDef,
    NodeInterface,
    ResourceDef,
    ServiceDef,
)
from tandem.inventory import models as m


@dataclass(frozen=True)
class NodeSnap:
    """A node as the inventory describes it."""

    name: str
    roles: tuple[str, ...] = ()
    interfaces: tuple[NodeInterface, ...] = ()  # ordered by network name
    bmc: BmcDef | None = None


@dataclass(frozen=True)
class MemberSnap:
    """A node in a cell, with its id and votes there."""

    node: NodeSnap
    nodeid: int
    votes: int = 1


@dataclass(frozen=True)
class LevelledDevice:
    """A fence device and the level it belongs to (1 first)."""

    level: int
    device: FenceDeviceDef


@dataclass(frozen=True)
class TargetSnap:
    """A Lustre target one of the cell's members may serve: what the cell's
    `lustre_<node>` services are made of. The active node is left out: it moves at
    every failover and changes no configuration."""

    filesystem: str
    fs_type: str
    name: str
    kind: str
    device: str
    primary: str
    secondary: str | None = None


@dataclass(frozen=True)
class CellSnap:
    """A cell, everything its configuration is made from, and the version and hash of
    the configuration last generated for it (0 and "" before the first)."""

    name: str
    kind: str
    members: tuple[MemberSnap, ...]
    heartbeat: tuple[str, ...] = ()
    key_file: str = "/etc/tandem/cluster.key"
    port: int | None = None
    heartbeat_ms: int | None = None
    token_ms: int | None = None
    wait_for_all: bool | None = None
    fence_delay_ms: int = 3000
    qdisk: dict[str, Any] | None = None
    fence_devices: tuple[LevelledDevice, ...] = ()
    services: tuple[ServiceDef, ...] = ()
    targets: tuple[TargetSnap, ...] = ()  # whose primary or secondary is a member
    version: int = 0
    hash: str = ""

    @property
    def primary(self) -> MemberSnap:
        """The member with the lowest id: it wins fence races (its fencing waits)."""
        return self.members[0]


@dataclass(frozen=True)
class Snapshot:
    """The cells of the inventory, by name order; nodes in no cell are left out."""

    cells: tuple[CellSnap, ...] = field(default_factory=tuple)

    def cell(self, name: str) -> CellSnap | None:
        return next((c for c in self.cells if c.name == name), None)


def node_snap(node: m.Node) -> NodeSnap:
    """One node row as a snapshot."""
    bmc = None
    if node.bmc is not None:
        bmc = BmcDef(address=node.bmc.address, port=node.bmc.port, user=node.bmc.user,
                     password_file=node.bmc.password_file)
    interfaces = tuple(NodeInterface(a.network, a.interface, ipaddress.ip_interface(a.address))
                       for a in node.addresses)
    return NodeSnap(node.name, tuple(r.role for r in node.roles), interfaces, bmc)


def fence_device(row: m.FenceDevice) -> FenceDeviceDef:
    """A fence device row as the configuration model's device."""
    return FenceDeviceDef(
        name=row.name, type=row.type,  # type: ignore[arg-type]  # checked by the table
        agent=row.agent, options=tuple(sorted(row.options.items())), address=row.address,
        port=row.port, user=row.user, password_file=row.password_file,
        delay_ms=row.delay_ms, timeout_s=row.timeout_s)


def service_def(row: m.Service) -> ServiceDef:
    """A service row and its resources as the configuration model's service."""
    resources = tuple(ResourceDef(r.name, r.agent, dict(r.params), r.monitor_interval_s,
                                  dict(r.timeouts)) for r in row.resources)
    domain = DomainDef(tuple((str(name), int(prio)) for name, prio in row.domain),
                       row.restricted, row.failback, row.failback_delay_s)
    return ServiceDef(row.name, resources, domain, row.autostart,
                      row.recovery,  # type: ignore[arg-type]  # checked when generated
                      row.max_restarts, row.restart_window_s)


def target_snaps(session: Session) -> tuple[TargetSnap, ...]:
    """Every target, by file system and name."""
    rows = session.scalars(select(m.Target).join(m.Filesystem).order_by(
        m.Filesystem.name, m.Target.name).options(
        selectinload(m.Target.primary), selectinload(m.Target.secondary)))
    return tuple(TargetSnap(t.filesystem.name, t.filesystem.type, t.name, t.kind, t.device,
                            t.primary.name, t.secondary.name if t.secondary else None)
                 for t in rows)


def cell_snap(cell: m.Cell, targets: tuple[TargetSnap, ...] = ()) -> CellSnap:
    """One cell row (with its members' nodes) as a snapshot, with those of `targets`
    that its members serve."""
    members = {mb.node.name for mb in cell.members}
    return CellSnap(
        name=cell.name, kind=cell.kind,
        members=tuple(MemberSnap(node_snap(mb.node), mb.nodeid, mb.votes)
                      for mb in cell.members),
        heartbeat=tuple(h.network for h in cell.heartbeats), key_file=cell.key_file,
        port=cell.port, heartbeat_ms=cell.heartbeat_ms, token_ms=cell.token_ms,
        wait_for_all=cell.wait_for_all, fence_delay_ms=cell.fence_delay_ms,
        qdisk=dict(cell.qdisk) if cell.qdisk is not None else None,
        fence_devices=tuple(LevelledDevice(d.level, fence_device(d))
                            for d in cell.fence_devices),
        services=tuple(service_def(s) for s in cell.services),
        targets=tuple(t for t in targets if t.primary in members or t.secondary in members),
        version=cell.config_version, hash=cell.config_hash)


def cells_query() -> Any:
    """Every cell with what a snapshot reads, loaded in a few queries."""
    node = selectinload(m.Cell.members).selectinload(m.CellMember.node)
    return select(m.Cell).order_by(m.Cell.name).options(
        node.selectinload(m.Node.roles), node.selectinload(m.Node.addresses),
        node.selectinload(m.Node.bmc), selectinload(m.Cell.heartbeats),
        selectinload(m.Cell.fence_devices),
        selectinload(m.Cell.services).selectinload(m.Service.resources))


def read_snapshot(session: Session) -> Snapshot:
    """The inventory's cells as they are in this transaction."""
    targets = target_snaps(session)
    return Snapshot(tuple(cell_snap(c, targets) for c in session.scalars(cells_query())))
