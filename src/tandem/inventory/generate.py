"""From the inventory to one configuration per cell: a pure function of a Snapshot.

For each cell: every network of its members (heartbeat rings in the cell's order, or,
when it names none, the networks all members share, by name), the members with their
ids, votes, addresses and BMCs, fencing (the cell's devices level by level, else each
node's own BMC; the primary's first level waits `fence_delay_ms`, so that it wins a
fence race), two-node quorum for a pair without quorum disk, the quorum disk, and the
services: the cell's own, then those a domain makes from the inventory (the
`lustre_<node>` services of a Lustre I/O cell, from its targets). The text is written
by tandem.config.writer with comments saying where each part came from, then read back
by tandem.config.parse_config: a cell the loader refuses is an error naming the cell,
and nothing is generated.

The same snapshot always gives the same text. `config_version` moves only when the text
would change: the cell is first written at its last version; if that text hashes to the
stored hash nothing changed, otherwise it is written again at the next version.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Iterable
from dataclasses import dataclass

from tandem.config import ClusterConfig, ConfigError, parse_config
from tandem.config.model import (
    DEFAULT_PORT,
    FenceDeviceDef,
    FenceLevel,
    NetworkDef,
    NodeDef,
    ServiceDef,
    TimingDef,
)
from tandem.config.reader import Section
from tandem.config.sections import section_kind
from tandem.config.writer import Notes, config_text
from tandem.inventory.errors import InventoryInvalid
from tandem.inventory.snapshot import CellSnap, Snapshot

MIN_MEMBERS = 2
BMC_DEVICE = "bmc"
# Modules whose `cell_services(cell)` returns the (service, note) pairs their domain
# makes for a cell from the snapshot (none when the cell has nothing of theirs).
DOMAIN_SERVICES = ("tandem.hpc.lustre.services",)


@dataclass(frozen=True)
class GeneratedCell:
    """A cell's configuration: the TOML text, its sha256 (hex) and config_version."""

    text: str
    sha256: str
    version: int


def generate(snapshot: Snapshot, cells: Iterable[str] | None = None) -> dict[str, GeneratedCell]:
    """{cell name: its configuration} for every cell (or those named);
    InventoryInvalid naming the first cell that cannot be generated."""
    wanted = None if cells is None else set(cells)
    return {cell.name: generate_cell(cell) for cell in snapshot.cells
            if wanted is None or cell.name in wanted}


def generate_cell(cell: CellSnap) -> GeneratedCell:
    """One cell's configuration, at its stored version if nothing changed."""
    if cell.version > 0:
        text = render(cell, cell.version)
        digest = sha256(text)
        if digest == cell.hash:
            return GeneratedCell(text, digest, cell.version)
    text = render(cell, cell.version + 1)
    return GeneratedCell(text, sha256(text), cell.version + 1)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def render(cell: CellSnap, version: int) -> str:
    """The configuration text of `cell` at `version`, checked by the loader."""
    if len(cell.members) < MIN_MEMBERS:
        raise InventoryInvalid(f"cell {cell.name}: a cell needs at least {MIN_MEMBERS} "
                               f"members, it has {len(cell.members)}")
    notes: dict[str, str] = {}
    config = _config(cell, version, notes)
    header = (f"Cell {cell.name} ({cell.kind}), generated from the tandem inventory.",
              "Do not edit: change the inventory (tandem db set ...) and push again.")
    text = config_text(config, Notes(header, notes))
    try:
        parse_config(text, f"cell {cell.name}")
    except ConfigError as exc:
        raise InventoryInvalid(f"the configuration of {exc}") from None
    return text


def _config(cell: CellSnap, version: int, notes: dict[str, str]) -> ClusterConfig:
    sections = _sections(cell, notes)
    two_node = len(cell.members) == MIN_MEMBERS and not sections
    default = TimingDef()
    return ClusterConfig(
        name=cell.name, key_file=cell.key_file, config_version=version,
        port=cell.port or DEFAULT_PORT, two_node=two_node,
        wait_for_all=two_node if cell.wait_for_all is None else cell.wait_for_all,
        timing=TimingDef(heartbeat_ms=cell.heartbeat_ms or default.heartbeat_ms,
                         token_ms=cell.token_ms or default.token_ms),
        networks=_networks(cell, notes), nodes=_nodes(cell, notes),
        fence_devices=_devices(cell, notes), services=_services(cell, notes),
        sections=sections)


def _services(cell: CellSnap, notes: dict[str, str]) -> tuple[ServiceDef, ...]:
    """The cell's own services, then those its domains generate (never both of one name)."""
    services = list(cell.services)
    for module in DOMAIN_SERVICES:
        for service, note in importlib.import_module(module).cell_services(cell):
            if any(s.name == service.name for s in services):
                raise InventoryInvalid(f"cell {cell.name}: service {service.name} is "
                                       f"generated ({note}); remove the inventory's own "
                                       f"(db remove service {cell.name} {service.name})")
            notes[f"services[{len(services)}]"] = note
            services.append(service)
    return tuple(services)


def _networks(cell: CellSnap, notes: dict[str, str]) -> tuple[NetworkDef, ...]:
    names = sorted({i.network for mb in cell.members for i in mb.node.interfaces})
    rings = list(cell.heartbeat)
    if rings:
        why = "the cell's heartbeat networks, in order"
    else:
        rings = [n for n in names if all(any(i.network == n for i in mb.node.interfaces)
                                         for mb in cell.members)]
        why = "no heartbeat network named for the cell: every network all members share"
        if not rings:
            raise InventoryInvalid(f"cell {cell.name}: its members share no network to send "
                                   f"heartbeats on (give their addresses, or --heartbeat)")
    for net in rings:
        if net not in names:
            raise InventoryInvalid(f"cell {cell.name}: heartbeat network {net!r} is not a "
                                   f"network of its members (known: {', '.join(names)})")
    for ring, net in enumerate(rings):
        notes[f"networks.{net}"] = f"ring {ring}: {why}"
    return tuple(NetworkDef(n, rings.index(n) if n in rings else None) for n in names)


def _nodes(cell: CellSnap, notes: dict[str, str]) -> tuple[NodeDef, ...]:
    levels = _levels(cell)
    nodes = []
    for index, member in enumerate(cell.members):
        fence = levels
        if member is cell.primary and cell.fence_delay_ms and levels:
            fence = (FenceLevel(levels[0].devices, cell.fence_delay_ms), *levels[1:])
            notes[f"nodes[{index}]"] = (f"primary (lowest id): fencing it waits "
                                        f"{cell.fence_delay_ms} ms, so it survives a "
                                        f"fence race")
        elif member.node.roles:
            notes[f"nodes[{index}]"] = f"roles: {', '.join(member.node.roles)}"
        nodes.append(NodeDef(member.node.name, member.nodeid, member.votes,
                             member.node.interfaces, member.node.bmc, fence))
    return tuple(nodes)


def _levels(cell: CellSnap) -> tuple[FenceLevel, ...]:
    if not cell.fence_devices:
        return (FenceLevel((BMC_DEVICE,)),)
    numbers = sorted({d.level for d in cell.fence_devices})
    return tuple(FenceLevel(tuple(d.device.name for d in cell.fence_devices if d.level == n))
                 for n in numbers)


def _devices(cell: CellSnap, notes: dict[str, str]) -> tuple[FenceDeviceDef, ...]:
    if cell.fence_devices:
        for levelled in cell.fence_devices:
            notes[f"fence_devices.{levelled.device.name}"] = f"fencing level {levelled.level}"
        return tuple(d.device for d in cell.fence_devices)
    for member in cell.members:
        if member.node.bmc is None:
            raise InventoryInvalid(f"cell {cell.name}: node {member.node.name} has no BMC and "
                                   f"the cell has no fence device (db set node "
                                   f"{member.node.name} --bmc ..., or db set fence "
                                   f"{cell.name} ...)")
    notes[f"fence_devices.{BMC_DEVICE}"] = "each node is fenced through its own BMC"
    return (FenceDeviceDef(BMC_DEVICE, "ipmi"),)


def _sections(cell: CellSnap, notes: dict[str, str]) -> tuple[object, ...]:
    if cell.qdisk is None:
        return ()
    kind = section_kind("qdisk")
    try:
        qdisk = kind.read(Section(dict(cell.qdisk), f"cell {cell.name}", "qdisk"))
    except ConfigError as exc:
        raise InventoryInvalid(f"the quorum disk of {exc}") from None
    notes["qdisk"] = "the cell's quorum-disk LUN (replaces two-node mode)"
    return (qdisk,)
