"""`tandem db import FILE...`: bring descriptions written elsewhere into the inventory,
all files in one transaction (one bad file and nothing is imported).

What a file is, is read from its content:
- a cell configuration (TOML with a [cluster] table): through `import_cluster`;
- a Red Hat Cluster Suite cluster.conf (XML): converted by
  tandem.config.importers.rhcs.import_rhcs, then through `import_cluster`;
- an inventory document (other TOML, or JSON): what `tandem db export` writes, of which
  the management pair's inventory.toml is a part (tandem.inventory.docimport).
Anything else is refused with one line.

`import_cluster` is the one way a ClusterConfig, from whatever source, enters the
inventory: its nodes (addresses, BMC), then its cell (members with their ids and votes,
heartbeat rings, quorum disk, timing, fence devices, services). What the inventory
cannot hold is said in the notes, one line each.
"""

from __future__ import annotations

import importlib
import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from tandem.config import ClusterConfig, ConfigError, parse_config
from tandem.config.model import DEFAULT_PORT, NodeDef, TimingDef
from tandem.config.sections import written_sections
from tandem.inventory import models as m
from tandem.inventory.docimport import apply_document, service_rows
from tandem.inventory.edit import NO_SECRETS, CellChange, NodeChange, replace, set_cell, set_nodes
from tandem.inventory.errors import InventoryInvalid

RHCS_MODULE = "tandem.config.importers.rhcs"
T = TypeVar("T")


@dataclass(frozen=True)
class Imported:
    """What one file brought in, and what it could not."""

    source: str
    kind: str  # "cell configuration", "cluster.conf", "inventory document"
    notes: tuple[str, ...]


def import_files(session: Session, paths: Sequence[Path], cell_kind: str | None = None
                 ) -> list[Imported]:
    """Import each file in turn (in the caller's transaction)."""
    return [import_text(session, _read(path), str(path), cell_kind) for path in paths]


def import_text(session: Session, text: str, source: str, cell_kind: str | None = None
                ) -> Imported:
    """Import one file's text; its kind is read from the content."""
    stripped = text.lstrip()
    if stripped.startswith("<"):
        config, notes = _rhcs(text, source)
        return Imported(source, "cluster.conf",
                        (*notes, *import_cluster(session, config, source, cell_kind)))
    if stripped.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InventoryInvalid(f"{source}: not valid JSON: {exc}") from None
        return Imported(source, "inventory document",
                        tuple(apply_document(session, data, source)))
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InventoryInvalid(f"{source}: neither TOML, JSON nor a cluster.conf (XML): "
                               f"{exc}") from None
    if "cluster" in data:
        try:
            config = parse_config(text, source)
        except ConfigError as exc:
            raise InventoryInvalid(str(exc)) from None
        return Imported(source, "cell configuration",
                        tuple(import_cluster(session, config, source, cell_kind)))
    return Imported(source, "inventory document", tuple(apply_document(session, data, source)))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InventoryInvalid(f"{path}: cannot read: {reason or exc}") from None


def _rhcs(text: str, source: str) -> tuple[ClusterConfig, list[str]]:
    try:
        module = importlib.import_module(RHCS_MODULE)
    except ImportError:
        raise InventoryInvalid(f"{source}: looks like a cluster.conf, and this tandem "
                               f"cannot import those") from None
    result: Any = module.import_rhcs(text, source)
    return result.config, [str(note) for note in result.notes]


# -- a cell configuration ------------------------------------------------------------------------
def import_cluster(session: Session, config: ClusterConfig, source: str,
                   kind: str | None = None) -> list[str]:
    """Make the inventory describe the cell `config` (nodes included); the notes say
    what it cannot hold. `kind` defaults to the cell's kind in the inventory, else
    generic."""
    notes = _unkept(config, source)
    for node in config.nodes:
        _node(session, node, source)
    existing = session.scalar(select(m.Cell.kind).where(m.Cell.name == config.name))
    first = min(config.nodes, key=lambda n: n.id)
    delay = first.fence[0].delay_ms if first.fence and first.fence[0].delay_ms else 0
    set_cell(session, config.name, CellChange(
        kind=kind or existing or "generic",
        member_ids=tuple((n.name, n.id, n.votes) for n in sorted(config.nodes,
                                                                  key=lambda n: n.id)),
        heartbeat=tuple(n.name for n in config.rings), key_file=config.key_file,
        fence_delay_ms=delay))
    cell = session.scalars(select(m.Cell).where(m.Cell.name == config.name)).one()
    default = TimingDef()
    cell.port = None if config.port == DEFAULT_PORT else config.port
    cell.heartbeat_ms = _unless(config.timing.heartbeat_ms, default.heartbeat_ms)
    cell.token_ms = _unless(config.timing.token_ms, default.token_ms)
    cell.wait_for_all = _unless(config.wait_for_all, config.two_node)
    sections = written_sections(config.sections)
    cell.qdisk = dict(sections["qdisk"]) if "qdisk" in sections else None
    replace(cell, "fence_devices", _devices(config, first, source, notes))
    replace(cell, "services", service_rows(config.services))
    return notes


def _unless(value: T, default: T) -> T | None:
    return None if value == default else value


def _node(session: Session, node: NodeDef, source: str) -> None:
    bmc = node.bmc
    if bmc is not None and bmc.password is not None:
        raise InventoryInvalid(f"{source}: node {node.name}: a BMC password in the file: "
                               f"{NO_SECRETS} (password_file)")
    set_nodes(session, [node.name], NodeChange(
        addresses=tuple((i.network, i.interface, str(i.address)) for i in node.interfaces),
        replace_addresses=True, drop_bmc=True,
        bmc_address=bmc.address if bmc else None, bmc_port=bmc.port if bmc else None,
        bmc_user=bmc.user if bmc else None, bmc_password_file=bmc.password_file if bmc
        else None))


def _devices(config: ClusterConfig, first: NodeDef, source: str,
             notes: list[str]) -> list[m.FenceDevice]:
    """The cell's devices, each at the level where the first node uses it."""
    levels = {name: index + 1 for index, level in enumerate(first.fence)
              for name in level.devices}
    for node in config.nodes:
        if tuple(lv.devices for lv in node.fence) != tuple(lv.devices for lv in first.fence):
            notes.append(f"{source}: {node.name} is fenced otherwise than {first.name}: the "
                          f"inventory keeps one order per cell ({first.name}'s)")
        if node is not first and node.fence and node.fence[0].delay_ms:
            notes.append(f"{source}: the fence delay of {node.name} is not kept (only the "
                          f"lowest node id's, {first.name})")
    rows = []
    for device in config.fence_devices:
        if device.password is not None:
            raise InventoryInvalid(f"{source}: fence device {device.name}: a password in "
                                   f"the file: {NO_SECRETS} (password_file)")
        if device.name not in levels:
            notes.append(f"{source}: fence device {device.name} is not used by "
                         f"{first.name}: kept at the last level")
        rows.append(m.FenceDevice(
            name=device.name, level=levels.get(device.name, len(first.fence) + 1),
            type=device.type, agent=device.agent, options=dict(device.options),
            address=device.address, port=device.port, user=device.user,
            password_file=device.password_file, delay_ms=device.delay_ms,
            timeout_s=device.timeout_s))
    return rows


def _unkept(config: ClusterConfig, source: str) -> list[str]:
    notes = []
    if config.lab is not None:
        notes.append(f"{source}: the [lab] section is not kept (the lab reads cell files)")
    others = sorted(set(written_sections(config.sections)) - {"qdisk"})
    if others:
        notes.append(f"{source}: sections not kept: {', '.join(others)}")
    if config.expected_votes:
        notes.append(f"{source}: expected_votes = {config.expected_votes} is not kept (the "
                     f"votes of the members and the quorum disk decide)")
    pair = len(config.nodes) == 2 and not config.sections
    if config.two_node != pair:
        notes.append(f"{source}: two_node = {str(config.two_node).lower()} is not kept "
                     f"(generated: {str(pair).lower()})")
    if config.timing.fence_check_s != TimingDef().fence_check_s:
        notes.append(f"{source}: timing.fence_check_s is not kept")
    return notes
