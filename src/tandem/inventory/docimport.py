"""Reading an inventory document (tandem.inventory.export describes it; the management
pair's `inventory.toml` is one) into the inventory, inside the caller's transaction.

What the document describes replaces what the inventory said about it: a node's
addresses and BMC (its roles when the entry lists them), a cell's settings, members,
fence devices and services, a file system, a target, an export. What it does not
mention is left alone. Errors name the file and the key (ConfigError's form) and stop
the import before anything is committed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tandem.config import ConfigError
from tandem.config.loader import NAME_RE, read_interfaces
from tandem.config.model import ServiceDef
from tandem.config.reader import Section
from tandem.config.services import read_services
from tandem.inventory import models as m
from tandem.inventory.cellparts import is_secret
from tandem.inventory.edit import (
    NO_SECRETS,
    CellChange,
    NodeChange,
    replace,
    set_cell,
    set_nodes,
)
from tandem.inventory.errors import InventoryInvalid
from tandem.inventory.secrets import SecretFiles, secret_stem
from tandem.inventory.storage import (
    ExportChange,
    FilesystemChange,
    TargetChange,
    set_export,
    set_filesystem,
    set_target,
)

TOP_KEYS = ("heartbeat", "nodes", "cells", "filesystems", "targets", "exports")
PAIR_CELL = "mgmt"


def apply_document(session: Session, data: dict[str, Any], source: str,
                   secrets: SecretFiles | None = None) -> list[str]:
    """Apply the document `data` read from `source`; notes for the operator. Inline
    passwords go to `secrets` (refused when it has no directory)."""
    secrets = secrets or SecretFiles()
    try:
        top = Section(data, source)
        top.only(*TOP_KEYS)
        for node in top.tables("nodes"):
            _node(session, node, secrets)
        cells = list(top.tables("cells"))
        for cell in cells:
            _cell(session, cell, secrets)
        notes = _pair(session, top) if not cells else []
        for fs in top.tables("filesystems"):
            _filesystem(session, fs)
        for target in top.tables("targets"):
            _target(session, target)
        for export in top.tables("exports"):
            _export(session, export)
    except ConfigError as exc:
        raise InventoryInvalid(str(exc)) from None
    return notes


def bmc_change(sec: Section | None, node: str, secrets: SecretFiles) -> NodeChange:
    """A `bmc` table as the change that replaces a node's BMC (an inline password goes
    to `secrets`)."""
    if sec is None:
        return NodeChange(drop_bmc=True)
    sec.only("address", "port", "user", "password", "password_file")
    password_file = sec.string("password_file")
    if "password" in sec.data:
        password_file = secrets.keep(secret_stem(node, "bmc"), sec.req_string("password"),
                                     f"{sec.file}: node {node}: BMC")
    return NodeChange(bmc_address=sec.ip_address("address"),
                      bmc_port=sec.integer("port", 623, minimum=1, maximum=65535),
                      bmc_user=sec.string("user", "admin") or "admin",
                      bmc_password_file=password_file, drop_bmc=True)


def _node(session: Session, sec: Section, secrets: SecretFiles) -> None:
    sec.only("name", "roles", "networks", "bmc")
    name = sec.req_string("name", pattern=NAME_RE)
    interfaces = read_interfaces(sec.table("networks"))
    bmc = bmc_change(sec.table("bmc"), name, secrets)
    roles = tuple(sec.strings("roles")) if "roles" in sec.data else None
    set_nodes(session, [name], NodeChange(
        roles=roles, addresses=tuple((i.network, i.interface, str(i.address))
                                     for i in interfaces),
        replace_addresses=True, bmc_address=bmc.bmc_address, bmc_user=bmc.bmc_user,
        bmc_port=bmc.bmc_port, bmc_password_file=bmc.bmc_password_file, drop_bmc=True))


def _cell(session: Session, sec: Section, secrets: SecretFiles) -> None:
    sec.only("name", "kind", "members", "heartbeat", "key_file", "port", "heartbeat_ms",
             "token_ms", "wait_for_all", "fence_delay_ms", "qdisk", "config_version",
             "config_hash", "fence_devices", "services")
    name = sec.req_string("name", pattern=NAME_RE)
    set_cell(session, name, CellChange(
        kind=sec.string("kind", "generic"), member_ids=_members(sec),
        heartbeat=tuple(sec.strings("heartbeat")),
        key_file=sec.string("key_file", "/etc/tandem/cluster.key"),
        fence_delay_ms=sec.integer("fence_delay_ms", 3000, minimum=0)))
    cell = session.scalars(select(m.Cell).where(m.Cell.name == name)).one()
    qdisk = sec.table("qdisk")
    cell.port = _optional_int(sec, "port")
    cell.heartbeat_ms = _optional_int(sec, "heartbeat_ms")
    cell.token_ms = _optional_int(sec, "token_ms")
    cell.wait_for_all = sec.boolean("wait_for_all", False) if "wait_for_all" in sec.data \
        else None
    cell.qdisk = dict(qdisk.data) if qdisk is not None else None
    cell.config_version = sec.integer("config_version", cell.config_version, minimum=0)
    cell.config_hash = sec.string("config_hash", cell.config_hash) or ""
    replace(cell, "fence_devices", [_device(d, name, secrets)
                                    for d in sec.tables("fence_devices")])
    replace(cell, "services", service_rows(read_services(sec)))


def _members(sec: Section) -> tuple[tuple[str, int, int], ...]:
    members = []
    raw = sec.data.get("members")
    if not isinstance(raw, list) or not raw:
        raise sec.fail("members", "expected an array of { name, id, votes } tables")
    for index, item in enumerate(raw):
        entry = Section(item if isinstance(item, dict) else {"name": item}, sec.file,
                        f"{sec.where('members')}[{index}]")
        entry.only("name", "id", "votes")
        members.append((entry.req_string("name", pattern=NAME_RE),
                        entry.integer("id", index + 1, minimum=1, maximum=255),
                        entry.integer("votes", 1, minimum=0, maximum=255)))
    if len({i for _, i, _ in members}) != len(members):
        raise sec.fail("members", "a node id is used twice")
    return tuple(members)


def _device(sec: Section, cell: str, secrets: SecretFiles) -> m.FenceDevice:
    sec.only("name", "level", "type", "agent", "options", "address", "port", "user",
             "password", "password_file", "delay_ms", "timeout_s")
    name = sec.req_string("name", pattern=NAME_RE)
    options = sec.table("options")
    values = {k: str(v) for k, v in (options.data.items() if options else ())}
    if any(is_secret(k) for k in values):
        raise sec.fail("options", f"a password in the file: {NO_SECRETS} (password_file)")
    password_file = sec.string("password_file")
    if "password" in sec.data:
        password_file = secrets.keep(secret_stem(cell, name), sec.req_string("password"),
                                     f"{sec.file}: fence device {name} of {cell}")
    return m.FenceDevice(
        name=name,
        level=sec.integer("level", 1, minimum=1, maximum=16),
        type=sec.req_string("type"), agent=sec.string("agent"), options=values,
        address=sec.string("address"), port=_optional_int(sec, "port"),
        user=sec.string("user"), password_file=password_file,
        delay_ms=sec.integer("delay_ms", 0, minimum=0),
        timeout_s=sec.number("timeout_s", 20.0, minimum=0.1))


def service_rows(services: tuple[ServiceDef, ...]) -> list[m.Service]:
    """Services of the configuration model as new rows."""
    return [m.Service(
        name=s.name, autostart=s.autostart, recovery=s.recovery,
        max_restarts=s.max_restarts, restart_window_s=s.restart_window_s,
        domain=[[n, p] for n, p in s.domain.nodes], restricted=s.domain.restricted,
        failback=s.domain.failback, failback_delay_s=s.domain.failback_delay_s,
        resources=[m.Resource(position=i + 1, name=r.name, agent=r.agent,
                              params=dict(r.params), monitor_interval_s=r.monitor_interval_s,
                              timeouts=dict(r.timeouts))
                   for i, r in enumerate(s.resources)]) for s in services]


def _pair(session: Session, top: Section) -> list[str]:
    """inventory.toml: its two nodes make the management cell (unless there is one)."""
    nodes = [n.req_string("name") for n in top.tables("nodes")]
    existing = session.scalar(select(m.Cell.name).where(m.Cell.kind == "management"))
    if existing is not None or not nodes:
        return []
    if len(nodes) != 2:
        return [f"{top.file}: {len(nodes)} nodes, not a pair: no management cell made "
                f"(db set cell NAME --kind management --members NODESET)"]
    set_cell(session, PAIR_CELL, CellChange(kind="management", members=",".join(nodes),
                                            heartbeat=tuple(top.strings("heartbeat"))))
    return [f"{top.file}: management cell {PAIR_CELL} made of {' and '.join(nodes)}"]


def _filesystem(session: Session, sec: Section) -> None:
    sec.only("name", "type", "cell", "device", "mount_point")
    set_filesystem(session, sec.req_string("name"), FilesystemChange(
        type=sec.req_string("type"), cell=sec.string("cell", "") or "",
        device=sec.string("device", "") or "", mount_point=sec.string("mount_point", "")
        or ""))


def _target(session: Session, sec: Section) -> None:
    sec.only("filesystem", "name", "kind", "device", "primary", "secondary", "active")
    set_target(session, sec.req_string("filesystem"), sec.req_string("name"), TargetChange(
        kind=sec.req_string("kind"), device=sec.req_string("device"),
        primary=sec.req_string("primary"), secondary=sec.string("secondary", "") or "",
        active=sec.string("active", "") or ""))


def _export(session: Session, sec: Section) -> None:
    sec.only("cell", "path", "clients", "options", "fsid", "filesystem")
    set_export(session, sec.req_string("cell"), sec.req_string("path"), ExportChange(
        clients=sec.string("clients", "*"), options=sec.string("options", "rw,sync"),
        fsid=_optional_int(sec, "fsid"), filesystem=sec.string("filesystem", "") or ""))


def _optional_int(sec: Section, key: str) -> int | None:
    return sec.integer(key, 0, minimum=0) if key in sec.data else None
