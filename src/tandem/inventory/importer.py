"""`tandem db import FILE...`: bring descriptions written elsewhere into the inventory,
all files in one transaction (one bad file and nothing is imported).

What a file is, is read from its content:
- a cell configuration (TOML with a [cluster] table): through `import_cluster`;
- a Red Hat Cluster Suite cluster.conf (XML): converted by
  tandem.config.importers.rhcs.import_rhcs (tandem.inventory.rhcsimport says where
  the nodes' addresses come from), then through `import_cluster`;
- an inventory document (other TOML, or JSON): what `tandem db export` writes, of which
  the management pair's inventory.toml is a part (tandem.inventory.docimport).
Anything else is refused with one line.

`import_cluster` is the one way a ClusterConfig, from whatever source, enters the
inventory: its nodes (addresses, BMC), then its cell (members with their ids and votes,
heartbeat rings, quorum disk, timing, fence devices, services). What the inventory
cannot hold is said in the notes, one line each. A password written inline goes to a
file of the secrets directory, or the file is refused (tandem.inventory.secrets).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from tandem.config import ClusterConfig, ConfigError, parse_config
from tandem.config.importers.addresses import AddressSpec
from tandem.config.model import DEFAULT_PORT, NodeDef, TimingDef
from tandem.config.sections import written_sections
from tandem.inventory import models as m
from tandem.inventory.cellparts import is_secret
from tandem.inventory.docimport import apply_document, service_rows
from tandem.inventory.edit import NO_SECRETS, CellChange, NodeChange, replace, set_cell, set_nodes
from tandem.inventory.errors import InventoryInvalid
from tandem.inventory.rhcsimport import RhcsAddresses, import_cluster_conf
from tandem.inventory.secrets import SecretFiles, secret_stem

T = TypeVar("T")


@dataclass(frozen=True)
class Imported:
    """What one file brought in, and what it could not."""

    source: str
    kind: str  # "cell configuration", "cluster.conf", "inventory document"
    notes: tuple[str, ...]


@dataclass(frozen=True)
class ImportSettings:
    """The operator's choices for one `db import`: the kind of the cells imported from
    cell files, where inline passwords go, and the addresses of cluster.conf nodes
    (NODE=NET:IF:ADDR/PREFIX, as `config import-rhcs --address` takes them)."""

    kind: str | None = None
    secrets: SecretFiles = field(default_factory=SecretFiles)
    addresses: tuple[AddressSpec, ...] = ()


def import_files(session: Session, paths: Sequence[Path],
                 settings: ImportSettings | None = None) -> list[Imported]:
    """Import each file in turn (in the caller's transaction)."""
    settings = settings or ImportSettings()
    addresses = RhcsAddresses(settings.addresses)
    done = [import_text(session, _read(path), str(path), settings, addresses)
            for path in paths]
    addresses.check_all_used()
    return done


def import_text(session: Session, text: str, source: str,
                settings: ImportSettings | None = None,
                addresses: RhcsAddresses | None = None) -> Imported:
    """Import one file's text; its kind is read from the content."""
    settings = settings or ImportSettings()
    stripped = text.lstrip()
    kind, secrets = settings.kind, settings.secrets
    if not stripped:
        raise InventoryInvalid(f"{source}: empty: nothing to import")
    if stripped.startswith("<"):
        config, notes = import_cluster_conf(session, text, source, secrets.directory,
                                            addresses or RhcsAddresses(settings.addresses))
        return Imported(source, "cluster.conf",
                        (*notes, *import_cluster(session, config, source, kind, secrets)))
    if stripped.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InventoryInvalid(f"{source}: not valid JSON: {exc}") from None
        return Imported(source, "inventory document",
                        tuple(apply_document(session, data, source, secrets)))
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
                        tuple(import_cluster(session, config, source, kind, secrets)))
    return Imported(source, "inventory document",
                    tuple(apply_document(session, data, source, secrets)))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InventoryInvalid(f"{path}: cannot read: {reason or exc}") from None


# -- a cell configuration ------------------------------------------------------------------------
def import_cluster(session: Session, config: ClusterConfig, source: str,
                   kind: str | None = None, secrets: SecretFiles | None = None) -> list[str]:
    """Make the inventory describe the cell `config` (nodes included); the notes say
    what it cannot hold. `kind` defaults to the cell's kind in the inventory, else
    generic; inline passwords go to `secrets` (refused without a directory)."""
    secrets = secrets or SecretFiles()
    notes = _unkept(config, source)
    for node in config.nodes:
        _node(session, node, source, secrets)
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
    replace(cell, "fence_devices", _devices(config, first, source, notes, secrets))
    replace(cell, "services", service_rows(config.services))
    return notes


def _unless(value: T, default: T) -> T | None:
    return None if value == default else value


def _node(session: Session, node: NodeDef, source: str, secrets: SecretFiles) -> None:
    bmc = node.bmc
    password_file = bmc.password_file if bmc else None
    if bmc is not None and bmc.password is not None:
        password_file = secrets.keep(secret_stem(node.name, "bmc"), bmc.password,
                                     f"{source}: node {node.name}: BMC")
    set_nodes(session, [node.name], NodeChange(
        addresses=tuple((i.network, i.interface, str(i.address)) for i in node.interfaces),
        replace_addresses=True, drop_bmc=True,
        bmc_address=bmc.address if bmc else None, bmc_port=bmc.port if bmc else None,
        bmc_user=bmc.user if bmc else None, bmc_password_file=password_file))


def _devices(config: ClusterConfig, first: NodeDef, source: str, notes: list[str],
             secrets: SecretFiles) -> list[m.FenceDevice]:
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
        password_file = device.password_file
        if device.password is not None:
            password_file = secrets.keep(secret_stem(config.name, device.name),
                                         device.password,
                                         f"{source}: fence device {device.name}")
        hidden = [k for k, _ in device.options if is_secret(k)]
        if hidden:
            raise InventoryInvalid(f"{source}: fence device {device.name}: option "
                                   f"{hidden[0]!r}: {NO_SECRETS} (password_file)")
        if device.name not in levels:
            notes.append(f"{source}: fence device {device.name} is not used by "
                         f"{first.name}: kept at the last level")
        rows.append(m.FenceDevice(
            name=device.name, level=levels.get(device.name, len(first.fence) + 1),
            type=device.type, agent=device.agent, options=dict(device.options),
            address=device.address, port=device.port, user=device.user,
            password_file=password_file, delay_ms=device.delay_ms,
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
