"""The Lustre file systems as the inventory describes them, as rows of plain data for
`tandem lustre show|list` (the manual's `lustre_ldap show|list` and `lustre_util info`):
each target with its kind, device, nodes, the node it is active on, and the service
that holds it with where its cell last said that service runs.

A target is held by `lustre_<primary>` when its primary is a member of a lustre cell
and its file system is Lustre's (tandem.hpc.lustre.services); otherwise by no
service. A file system is "managed by HA" when every one of its targets is held.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from tandem.hpc.lustre.services import LUSTRE_CELL, LUSTRE_FS, mountpoint, service_name
from tandem.inventory import models as m

Row = dict[str, Any]


def lustre_filesystems(session: Session) -> list[m.Filesystem]:
    """The Lustre file systems, by name, with their targets."""
    query = select(m.Filesystem).where(m.Filesystem.type == LUSTRE_FS).order_by(
        m.Filesystem.name).options(selectinload(m.Filesystem.targets))
    return list(session.scalars(query))


def target_row(target: m.Target) -> Row:
    """One target, the service that holds it and where that service was last seen."""
    membership = target.primary.membership
    cell = membership.cell if membership is not None else None
    held = cell is not None and cell.kind == LUSTRE_CELL
    service = service_name(target.primary.name) if held else None
    seen = next((loc for loc in cell.locations if loc.service == service), None) \
        if cell is not None and service is not None else None
    return {"filesystem": target.filesystem.name, "name": target.name, "kind": target.kind,
            "device": target.device, "primary": target.primary.name,
            "secondary": target.secondary.name if target.secondary else None,
            "active": target.active.name if target.active else None,
            "cell": cell.name if cell is not None else None, "service": service,
            "mountpoint": mountpoint(target.filesystem.name, target.name) if held else None,
            "service_on": seen.node if seen is not None else None,
            "service_state": seen.state if seen is not None else None}


def target_rows(session: Session, filesystem: str | None = None) -> list[Row]:
    """Every target of the Lustre file systems (or of the one named), in start order
    within each file system: MGT, MDTs, OSTs."""
    order = {"mgt": 0, "mdt": 1, "ost": 2}
    return [target_row(t) for fs in lustre_filesystems(session)
            if filesystem is None or fs.name == filesystem
            for t in sorted(fs.targets, key=lambda t: (order.get(t.kind, 3), t.name))]


def filesystem_row(fs: m.Filesystem, targets: list[Row]) -> Row:
    """A file system: its targets counted by kind, whether HA holds them all, and how
    many run on their secondary (migrated) or nowhere known (no active node)."""
    return {"name": fs.name, "mount_point": fs.mount_point,
            "mgt": sum(t["kind"] == "mgt" for t in targets),
            "mdt": sum(t["kind"] == "mdt" for t in targets),
            "ost": sum(t["kind"] == "ost" for t in targets),
            "ha": bool(targets) and all(t["service"] for t in targets),
            "cells": sorted({t["cell"] for t in targets if t["cell"]}),
            "migrated": sum(t["active"] is not None and t["active"] == t["secondary"]
                            for t in targets),
            "inactive": sum(t["active"] is None for t in targets)}


def filesystem_rows(session: Session) -> list[Row]:
    """Every Lustre file system, by name."""
    rows = target_rows(session)
    return [filesystem_row(fs, [t for t in rows if t["filesystem"] == fs.name])
            for fs in lustre_filesystems(session)]
