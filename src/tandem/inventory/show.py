"""What `tandem db show` prints: the inventory's tables as rows of plain data (the
JSON output as it stands; the CLI makes tables of them), optionally restricted to a
node set: the nodes in it, and everything of the cells with a member in it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tandem.inventory import models as m
from tandem.inventory.edit import known_nodes
from tandem.inventory.export import node_entry

Row = dict[str, Any]


def show(session: Session, what: str, nodeset: str | None = None) -> list[Row]:
    """The rows of `what` (one of SHOWN)."""
    names = None if nodeset is None else {n.name for n in known_nodes(session, nodeset)}
    cells = [c for c in session.scalars(select(m.Cell).order_by(m.Cell.name))
             if names is None or any(mb.node.name in names for mb in c.members)]
    return SHOWN[what](session, names, cells)


def _nodes(session: Session, names: set[str] | None, _cells: list[m.Cell]) -> list[Row]:
    rows = []
    for node in session.scalars(select(m.Node).order_by(m.Node.name)):
        if names is None or node.name in names:
            row = node_entry(node)
            row["cell"] = node.membership.cell.name if node.membership else None
            rows.append(row)
    return rows


def _cells(_session: Session, _names: set[str] | None, cells: list[m.Cell]) -> list[Row]:
    return [{"name": c.name, "kind": c.kind,
             "members": [{"name": mb.node.name, "id": mb.nodeid, "votes": mb.votes}
                         for mb in c.members],
             "heartbeat": [h.network for h in c.heartbeats],
             "qdisk": (c.qdisk or {}).get("device"), "fence_delay_ms": c.fence_delay_ms,
             "config_version": c.config_version, "config_hash": c.config_hash}
            for c in cells]


def _fence(_session: Session, _names: set[str] | None, cells: list[m.Cell]) -> list[Row]:
    return [{"cell": c.name, "name": d.name, "level": d.level, "type": d.type,
             "agent": d.agent, "options": d.options, "address": d.address, "user": d.user,
             "password_file": d.password_file}
            for c in cells for d in c.fence_devices]


def _services(_session: Session, _names: set[str] | None, cells: list[m.Cell]) -> list[Row]:
    where = {(c.name, loc.service): loc for c in cells for loc in c.locations}
    rows = []
    for cell in cells:
        for service in cell.services:
            seen = where.get((cell.name, service.name))
            rows.append({
                "cell": cell.name, "name": service.name, "autostart": service.autostart,
                "recovery": service.recovery, "domain": [n for n, _ in service.domain],
                "resources": [{"name": r.name, "agent": r.agent, "params": r.params}
                              for r in service.resources],
                "running_on": seen.node if seen else None,
                "state": seen.state if seen else None,
                "seen_at": seen.seen_at if seen else None})
    return rows


def _locations(_session: Session, _names: set[str] | None, cells: list[m.Cell]) -> list[Row]:
    return [{"cell": c.name, "service": loc.service, "node": loc.node, "state": loc.state,
             "seen_at": loc.seen_at} for c in cells for loc in c.locations]


def _filesystems(session: Session, names: set[str] | None, cells: list[m.Cell]) -> list[Row]:
    served = {c.name for c in cells}
    rows = []
    for fs in session.scalars(select(m.Filesystem).order_by(m.Filesystem.name)):
        nodes = {n.name for t in fs.targets for n in (t.primary, t.secondary) if n}
        if names is None or (fs.cell and fs.cell.name in served) or nodes & names:
            rows.append({"name": fs.name, "type": fs.type,
                         "cell": fs.cell.name if fs.cell else None, "device": fs.device,
                         "mount_point": fs.mount_point, "targets": len(fs.targets)})
    return rows


def _targets(session: Session, names: set[str] | None, _cells: list[m.Cell]) -> list[Row]:
    rows = []
    for target in session.scalars(select(m.Target).order_by(m.Target.name)):
        nodes = {n.name for n in (target.primary, target.secondary) if n}
        if names is None or nodes & names:
            rows.append({"filesystem": target.filesystem.name, "name": target.name,
                         "kind": target.kind, "device": target.device,
                         "primary": target.primary.name,
                         "secondary": target.secondary.name if target.secondary else None,
                         "active": target.active.name if target.active else None})
    return rows


def _exports(_session: Session, _names: set[str] | None, cells: list[m.Cell]) -> list[Row]:
    return [{"cell": c.name, "path": e.path, "clients": e.clients, "options": e.options,
             "fsid": e.fsid, "filesystem": e.filesystem.name if e.filesystem else None}
            for c in cells for e in c.exports]


SHOWN: dict[str, Callable[[Session, set[str] | None, list[m.Cell]], list[Row]]] = {
    "nodes": _nodes, "cells": _cells, "fence": _fence, "services": _services,
    "locations": _locations, "filesystems": _filesystems, "targets": _targets,
    "exports": _exports,
}
