"""`tandem db export`: the whole inventory as one document, TOML or JSON, that
`tandem db import` reads back into the same inventory (an empty database included).

The document's shape extends the management pair's `inventory.toml` (which is thus an
inventory document too):

    [[nodes]]      name, roles, networks.NET = { interface, address }, bmc = { address,
                   port, user, password_file }
    [[cells]]      name, kind, members = [{ name, id, votes }], heartbeat = [NET, ...],
                   key_file, port, heartbeat_ms, token_ms, wait_for_all, fence_delay_ms,
                   qdisk = { device, label, ... }, config_version, config_hash
    [[cells.fence_devices]]  name, level, type, agent, options, address, port, user,
                   password_file, delay_ms, timeout_s
    [[cells.services]]       a cell configuration's [[services]], resources included
    [[filesystems]] name, type, cell, device, mount_point
    [[targets]]    filesystem, name, kind, device, primary, secondary, active
    [[exports]]    cell, path, clients, options, fsid, filesystem

Absent keys mean "not set". Where services ran is an observation, not a description:
it is not exported.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import tomlkit
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from tomlkit.items import Item

from tandem.config.model import DomainDef, ServiceDef
from tandem.inventory import models as m
from tandem.inventory.snapshot import service_def

FORMATS = ("toml", "json")
# Lists of tables written as [[...]] (the others are inline).
_TABLE_ARRAYS = ("nodes", "cells", "fence_devices", "services", "resources", "filesystems",
                 "targets", "exports")


def export_document(session: Session) -> dict[str, Any]:
    """The inventory as plain data (only str, int, float, bool, lists and dicts)."""
    nodes = session.scalars(select(m.Node).order_by(m.Node.name).options(
        selectinload(m.Node.roles), selectinload(m.Node.addresses),
        selectinload(m.Node.bmc)))
    cells = session.scalars(select(m.Cell).order_by(m.Cell.name))
    filesystems = list(session.scalars(select(m.Filesystem).order_by(m.Filesystem.name)))
    return {
        "nodes": [node_entry(n) for n in nodes],
        "cells": [_cell(c) for c in cells],
        "filesystems": [_clean({"name": f.name, "type": f.type,
                                "cell": f.cell.name if f.cell else None,
                                "device": f.device, "mount_point": f.mount_point})
                        for f in filesystems],
        "targets": [_target(t) for f in filesystems for t in f.targets],
        "exports": [_clean({"cell": c.name, "path": e.path, "clients": e.clients,
                            "options": e.options, "fsid": e.fsid,
                            "filesystem": e.filesystem.name if e.filesystem else None})
                    for c in session.scalars(select(m.Cell).order_by(m.Cell.name))
                    for e in c.exports],
    }


def render(document: Mapping[str, Any], fmt: str) -> str:
    """The document as TOML or JSON text."""
    if fmt == "json":
        return json.dumps(document, indent=2) + "\n"
    doc = tomlkit.document()
    doc.add(tomlkit.comment("tandem inventory: `tandem db import FILE` reads it back"))
    for key, value in document.items():
        if value:
            doc.add(key, _toml(key, value))
    return tomlkit.dumps(doc)


def node_entry(node: m.Node) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": node.name}
    if node.roles:
        entry["roles"] = [r.role for r in node.roles]
    if node.addresses:
        entry["networks"] = {a.network: {"interface": a.interface, "address": a.address}
                             for a in node.addresses}
    if node.bmc is not None:
        entry["bmc"] = _clean({"address": node.bmc.address, "port": node.bmc.port,
                               "user": node.bmc.user, "password_file": node.bmc.password_file})
    return entry


def _cell(cell: m.Cell) -> dict[str, Any]:
    entry = _clean({
        "name": cell.name, "kind": cell.kind,
        "members": [{"name": mb.node.name, "id": mb.nodeid, "votes": mb.votes}
                    for mb in cell.members],
        "heartbeat": [h.network for h in cell.heartbeats], "key_file": cell.key_file,
        "port": cell.port, "heartbeat_ms": cell.heartbeat_ms, "token_ms": cell.token_ms,
        "wait_for_all": cell.wait_for_all, "fence_delay_ms": cell.fence_delay_ms,
        "qdisk": cell.qdisk, "config_version": cell.config_version,
        "config_hash": cell.config_hash})
    devices = [_clean({"name": d.name, "level": d.level, "type": d.type, "agent": d.agent,
                       "options": d.options or None, "address": d.address, "port": d.port,
                       "user": d.user, "password_file": d.password_file,
                       "delay_ms": d.delay_ms, "timeout_s": d.timeout_s})
               for d in cell.fence_devices]
    if devices:
        entry["fence_devices"] = devices
    if cell.services:
        entry["services"] = [service_entry(service_def(s)) for s in cell.services]
    return entry


def service_entry(service: ServiceDef) -> dict[str, Any]:
    """A service in the shape of a cell configuration's [[services]]."""
    entry: dict[str, Any] = {
        "name": service.name, "autostart": service.autostart, "recovery": service.recovery,
        "max_restarts": service.max_restarts, "restart_window_s": service.restart_window_s}
    if service.domain != DomainDef():
        domain = service.domain
        entry["domain"] = {"nodes": [{"name": n, "priority": p} for n, p in domain.nodes],
                           "restricted": domain.restricted, "failback": domain.failback,
                           "failback_delay_s": domain.failback_delay_s}
    entry["resources"] = [_clean({"name": r.name, "agent": r.agent,
                                  "params": dict(r.params) or None,
                                  "monitor_interval_s": r.monitor_interval_s,
                                  "timeouts": dict(r.timeouts) or None})
                          for r in service.resources]
    return entry


def _target(target: m.Target) -> dict[str, Any]:
    return _clean({"filesystem": target.filesystem.name, "name": target.name,
                   "kind": target.kind, "device": target.device,
                   "primary": target.primary.name,
                   "secondary": target.secondary.name if target.secondary else None,
                   "active": target.active.name if target.active else None})


def _clean(entry: dict[str, Any]) -> dict[str, Any]:
    """Without the keys that are not set (TOML has no null)."""
    return {k: v for k, v in entry.items() if v is not None and v != []}


def _toml(key: str, value: Any, in_table: bool = True) -> Item:
    """`value` as a TOML item: lists of tables named in _TABLE_ARRAYS as [[...]] when
    they sit in a table, everything else inline."""
    if in_table and key in _TABLE_ARRAYS and isinstance(value, list):
        aot = tomlkit.aot()
        for element in value:
            table = tomlkit.table()
            for inner_key, inner in element.items():
                if inner_key == "networks":  # networks.NET = {...}, as inventory.toml has it
                    for net, itf in inner.items():
                        table.add(tomlkit.key([inner_key, net]), _toml(net, itf, False))
                else:
                    table.add(inner_key, _toml(inner_key, inner))
            aot.append(table)
        return aot
    if isinstance(value, Mapping):
        inline = tomlkit.inline_table()
        for inner_key, inner in value.items():
            inline.append(inner_key, _toml(inner_key, inner, False))
        return inline
    if isinstance(value, list):
        array = tomlkit.array()
        for inner in value:
            array.append(_toml("", inner, False))
        return array
    item: Item = tomlkit.item(value)
    return item
