"""The small TOML inventory of the management pair: what is known about each node (its
networks and its BMC) before a cell is configured. Cell configurations are generated from
it (`tandem ha config-admin`); the cluster database will sit beside it later.

The shapes are those of a cell configuration's nodes:

    heartbeat = ["admin", "backbone"]        # optional: ring 0 first
    [[nodes]]
    name = "ns0"
    networks.admin = { interface = "eth0", address = "10.1.0.1/16" }
    bmc = { address = "10.2.0.1", user = "admin", password_file = "/etc/tandem/bmc.pw" }
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from tandem.common.errors import TandemError
from tandem.config import ConfigError
from tandem.config.loader import NAME_RE, read_bmc, read_interfaces
from tandem.config.model import BmcDef, NodeInterface
from tandem.config.reader import Section


class InventoryError(TandemError):
    """The inventory is missing or malformed, or lacks a node asked for; the message is
    one line that names the file."""


@dataclass(frozen=True)
class InventoryNode:
    """What the inventory says about one node."""

    name: str
    interfaces: tuple[NodeInterface, ...]
    bmc: BmcDef | None


@dataclass(frozen=True)
class Inventory:
    """The nodes of one inventory file, by name, in the file's order."""

    source: str
    nodes: dict[str, InventoryNode]
    heartbeat: tuple[str, ...] = ()

    def node(self, name: str) -> InventoryNode:
        """The node called `name`; InventoryError naming the nodes there are."""
        try:
            return self.nodes[name]
        except KeyError:
            known = ", ".join(self.nodes) or "none"
            raise InventoryError(f"{self.source}: no node {name!r} in the inventory "
                                 f"(it has: {known})") from None


def load_inventory(path: Path) -> Inventory:
    """Read the inventory file; InventoryError naming the file, key and problem."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InventoryError(f"{path}: inventory file is missing (give --inventory FILE)") \
            from None
    except OSError as exc:
        raise InventoryError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InventoryError(f"{path}: not valid TOML: {exc}") from None
    try:
        top = Section(data, str(path))
        top.only("heartbeat", "nodes")
        nodes = [_node(sec) for sec in top.tables("nodes")]
        heartbeat = tuple(top.strings("heartbeat"))
    except ConfigError as exc:
        raise InventoryError(str(exc)) from None
    found: dict[str, InventoryNode] = {}
    for node in nodes:
        if node.name in found:
            raise InventoryError(f"{path}: node {node.name!r} is listed twice")
        found[node.name] = node
    return Inventory(str(path), found, heartbeat)


def _node(sec: Section) -> InventoryNode:
    sec.only("name", "networks", "bmc")
    interfaces = read_interfaces(sec.table("networks"))
    bmc = read_bmc(sec.table("bmc"))
    return InventoryNode(sec.req_string("name", pattern=NAME_RE), interfaces, bmc)
