"""The tables the Lustre and NFS domains read: file systems, Lustre targets (primary,
secondary and active node, as the manual's lustre_ost/lustre_mdt tables) and NFS
exports (`tandem db set filesystem|target|export`), checked before they are changed.

The two nodes of a target must be members of one cell (the pair that shares its
storage); the active node is one of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tandem.inventory import models as m
from tandem.inventory.edit import check_name, find_cell, find_node
from tandem.inventory.errors import InventoryInvalid


def find_filesystem(session: Session, name: str) -> m.Filesystem:
    found = session.scalar(select(m.Filesystem).where(m.Filesystem.name == name))
    if found is None:
        raise InventoryInvalid(f"unknown file system {name!r} (db set filesystem {name} "
                               f"--type ... adds it)")
    return found


@dataclass(frozen=True)
class FilesystemChange:
    type: str | None = None
    cell: str | None = None  # "" detaches it from its cell
    device: str | None = None
    mount_point: str | None = None


def set_filesystem(session: Session, name: str, change: FilesystemChange) -> bool:
    """Create or update a file system; True if created."""
    check_name(name, "file system name")
    if change.type is not None and change.type not in m.FILESYSTEM_TYPES:
        raise InventoryInvalid(f"file system type {change.type!r}: expected one of "
                               f"{', '.join(m.FILESYSTEM_TYPES)}")
    for what, path in (("device", change.device), ("mount point", change.mount_point)):
        if path and not path.startswith("/"):
            raise InventoryInvalid(f"{what} {path!r}: expected an absolute path")
    found = session.scalar(select(m.Filesystem).where(m.Filesystem.name == name))
    created = found is None
    if found is None:
        if change.type is None:
            raise InventoryInvalid(f"file system {name} is new: give its --type")
        found = m.Filesystem(name=name, type=change.type)
        session.add(found)
    if change.type is not None:
        found.type = change.type
    if change.cell is not None:
        found.cell = find_cell(session, change.cell) if change.cell else None
    if change.device is not None:
        found.device = change.device or None
    if change.mount_point is not None:
        found.mount_point = change.mount_point or None
    return created


@dataclass(frozen=True)
class TargetChange:
    kind: str | None = None
    device: str | None = None
    primary: str | None = None
    secondary: str | None = None  # "" removes it
    active: str | None = None  # "" clears it


def set_target(session: Session, filesystem: str, name: str, change: TargetChange) -> bool:
    """Create or update a target of a Lustre file system; True if created."""
    fs = find_filesystem(session, filesystem)
    check_name(name, "target name")
    if change.kind is not None and change.kind not in m.TARGET_KINDS:
        raise InventoryInvalid(f"target kind {change.kind!r}: expected one of "
                               f"{', '.join(m.TARGET_KINDS)}")
    nodes = {attr: (find_node(session, value) if value else None)
             for attr in ("primary", "secondary", "active")
             if (value := getattr(change, attr)) is not None}
    target = next((t for t in fs.targets if t.name == name), None)
    created = target is None
    if target is None:
        if None in (change.kind, change.device, change.primary):
            raise InventoryInvalid(f"target {name} is new: give --kind, --device and "
                                   f"--primary")
        target = m.Target(name=name, kind=change.kind, device=change.device)
    if change.kind is not None:
        target.kind = change.kind
    if change.device is not None:
        target.device = change.device
    for attr, node in nodes.items():
        setattr(target, attr, node)
    if created:
        fs.targets.append(target)
    _check_pair(target)
    return created


def _check_pair(target: m.Target) -> None:
    nodes = [n for n in (target.primary, target.secondary) if n is not None]
    if target.secondary is not None:
        if target.secondary is target.primary:
            raise InventoryInvalid(f"target {target.name}: primary and secondary are the "
                                   f"same node")
        cells = {n.membership.cell.name if n.membership else None for n in nodes}
        if len(cells) != 1 or None in cells:
            raise InventoryInvalid(f"target {target.name}: {target.primary.name} and "
                                   f"{target.secondary.name} are not in one cell")
    if target.active is not None and target.active not in nodes:
        raise InventoryInvalid(f"target {target.name}: the active node "
                               f"{target.active.name} is neither its primary nor its "
                               f"secondary")


@dataclass(frozen=True)
class ExportChange:
    clients: str | None = None
    options: str | None = None
    fsid: int | None = None
    filesystem: str | None = None


def set_export(session: Session, cell_name: str, path: str, change: ExportChange) -> bool:
    """Create or update an export of an NFS cell; True if created."""
    cell = find_cell(session, cell_name)
    if cell.kind != "nfs":
        raise InventoryInvalid(f"cell {cell_name} is a {cell.kind} cell: exports belong to "
                               f"nfs cells")
    if not path.startswith("/"):
        raise InventoryInvalid(f"export {path!r}: expected an absolute path")
    export = next((e for e in cell.exports if e.path == path), None)
    created = export is None
    if export is None:
        export = m.Export(path=path, clients="*", options="rw,sync")
        cell.exports.append(export)
    if change.clients is not None:
        export.clients = change.clients
    if change.options is not None:
        export.options = change.options
    if change.fsid is not None:
        export.fsid = change.fsid
    if change.filesystem is not None:
        export.filesystem = find_filesystem(session, change.filesystem) \
            if change.filesystem else None
    return created
