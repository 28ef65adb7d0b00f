"""Changes to nodes and cells (`tandem db set node|cell`), checked before they are made.

Each function works inside the caller's transaction (tandem.inventory.writes.change)
and raises InventoryInvalid, with one line naming what is wrong, before it changes
anything. A field left None in a change keeps what the inventory had.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from tandem.config.loader import IFNAME_RE, NAME_RE
from tandem.inventory import models as m
from tandem.inventory.errors import InventoryInvalid
from tandem.inventory.generate import MIN_MEMBERS
from tandem.inventory.nodesets import NodeGroups

NO_SECRETS = ("the inventory keeps no secrets: put the password in a file only root can "
              "read and give its path")


def check_name(value: str, what: str, pattern: str = NAME_RE) -> str:
    """`value` if it is a valid name, else InventoryInvalid."""
    if not re.fullmatch(pattern, value):
        raise InventoryInvalid(f"{what} {value!r} is not a valid name (expected {pattern})")
    return value


def check_address(value: str, what: str) -> str:
    """An interface address ADDR/PREFIX, normalised."""
    if "/" not in value:
        raise InventoryInvalid(f"{what}: {value!r} needs its prefix length (ADDR/PREFIX)")
    try:
        return str(ipaddress.ip_interface(value))
    except ValueError:
        raise InventoryInvalid(f"{what}: {value!r} is not an address ADDR/PREFIX") from None


def check_ip(value: str, what: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise InventoryInvalid(f"{what}: {value!r} is not an IP address") from None


# -- lookups ----------------------------------------------------------------------------------
def find_node(session: Session, name: str) -> m.Node:
    node = session.scalar(select(m.Node).where(m.Node.name == name))
    if node is None:
        raise InventoryInvalid(f"unknown node {name!r} (db set node {name} ... adds it)")
    return node


def find_cell(session: Session, name: str) -> m.Cell:
    cell = session.scalar(select(m.Cell).where(m.Cell.name == name))
    if cell is None:
        known = ", ".join(session.scalars(select(m.Cell.name).order_by(m.Cell.name)))
        raise InventoryInvalid(f"unknown cell {name!r} (known: {known or 'none'})")
    return cell


def node_groups(session: Session) -> NodeGroups:
    """The inventory's node-set groups (roles, cell kinds, cells)."""
    groups: dict[str, set[str]] = {}
    cells: dict[str, set[str]] = {}
    for role, name in session.execute(select(m.NodeRole.role, m.Node.name).join(m.Node)):
        groups.setdefault(role, set()).add(name)
    members = select(m.Cell.name, m.Cell.kind, m.Node.name).join(
        m.CellMember, m.CellMember.cell_id == m.Cell.id).join(m.Node)
    for cell, kind, name in session.execute(members):
        groups.setdefault(kind, set()).add(name)
        cells.setdefault(cell, set()).add(name)
    return NodeGroups(groups, cells)


def known_nodes(session: Session, text: str, what: str = "node set",
                ordered: bool = False) -> list[m.Node]:
    """The nodes of node set `text`, every one known; InventoryInvalid otherwise.
    `ordered`: in the order written (a list of preference), else sorted."""
    groups = node_groups(session)
    names = groups.expand_ordered(text, what) if ordered else groups.expand(text, what)
    if not names:
        raise InventoryInvalid(f"{what} {text!r} names no node")
    found = {n.name: n for n in session.scalars(select(m.Node).where(m.Node.name.in_(names)))}
    missing = [n for n in names if n not in found]
    if missing:
        raise InventoryInvalid(f"{what} {text!r}: unknown node{'s' if len(missing) > 1 else ''}"
                               f" {', '.join(missing)}")
    return [found[n] for n in names]


# -- nodes ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NodeChange:
    """What `db set node` changes. `addresses` are (network, interface, ADDR/PREFIX)."""

    roles: tuple[str, ...] | None = None
    addresses: tuple[tuple[str, str, str], ...] = ()
    drop_networks: tuple[str, ...] = ()
    bmc_address: str | None = None
    bmc_user: str | None = None
    bmc_port: int | None = None
    bmc_password_file: str | None = None
    drop_bmc: bool = False  # with bmc_address: replace the whole BMC row
    replace_addresses: bool = False  # the addresses given are all the node has

    @property
    def own_values(self) -> bool:
        """Does it set values that belong to one node only (addresses, BMC address)?"""
        return bool(self.addresses) or self.bmc_address is not None


def set_nodes(session: Session, names: Sequence[str], change: NodeChange) -> list[str]:
    """Create or update the nodes `names`; the names created."""
    if change.own_values and len(names) != 1:
        raise InventoryInvalid(f"addresses and BMC addresses belong to one node: give one "
                               f"node, not {len(names)}")
    checked = _checked(change)
    created = []
    for name in names:
        check_name(name, "node name")
        node = session.scalar(select(m.Node).where(m.Node.name == name))
        if node is None:
            node = m.Node(name=name)
            session.add(node)
            created.append(name)
        _apply(node, checked)
    return created


def _checked(change: NodeChange) -> NodeChange:
    roles = None if change.roles is None else tuple(
        sorted({check_name(r, "role") for r in change.roles}))
    addresses = []
    for network, interface, address in change.addresses:
        check_name(network, "network")
        check_name(interface, "interface", IFNAME_RE)
        addresses.append((network, interface, check_address(address, f"address on {network}")))
    networks = [a[0] for a in addresses]
    if len(set(networks)) != len(networks):
        raise InventoryInvalid("one address per network: a network is given twice")
    bmc = None if change.bmc_address is None else check_ip(change.bmc_address, "BMC address")
    if change.bmc_port is not None and not 0 < change.bmc_port < 65536:
        raise InventoryInvalid(f"BMC port {change.bmc_port} is not a port number")
    if change.bmc_password_file is not None and not change.bmc_password_file.startswith("/"):
        raise InventoryInvalid(f"BMC password file {change.bmc_password_file!r}: expected "
                               f"an absolute path")
    return dataclasses.replace(change, roles=roles, addresses=tuple(addresses),
                               bmc_address=bmc)


def _apply(node: m.Node, change: NodeChange) -> None:
    if change.roles is not None and change.roles != tuple(r.role for r in node.roles):
        replace(node, "roles", [m.NodeRole(role=r) for r in change.roles])
    dropped = set(change.drop_networks) | {a[0] for a in change.addresses}
    kept = [] if change.replace_addresses else [
        (a.network, a.interface, a.address) for a in node.addresses if a.network not in dropped]
    wanted = sorted(kept + list(change.addresses))
    if wanted != [(a.network, a.interface, a.address) for a in node.addresses]:
        replace(node, "addresses", [m.Address(network=n, interface=i, address=a)
                                    for n, i, a in wanted])
    _apply_bmc(node, change)


def _apply_bmc(node: m.Node, change: NodeChange) -> None:
    if change.drop_bmc:
        if change.bmc_address is None:
            node.bmc = None
            return
        bmc = node.bmc or m.Bmc()
        bmc.address, bmc.port = change.bmc_address, change.bmc_port or 623
        bmc.user, bmc.password_file = change.bmc_user or "admin", change.bmc_password_file
        node.bmc = bmc
        return
    if all(v is None for v in (change.bmc_address, change.bmc_user, change.bmc_port,
                               change.bmc_password_file)):
        return
    if node.bmc is None:
        if change.bmc_address is None:
            raise InventoryInvalid(f"node {node.name} has no BMC yet: give its address too")
        node.bmc = m.Bmc(address=change.bmc_address, port=623, user="admin")
    bmc = node.bmc
    bmc.address = change.bmc_address or bmc.address
    bmc.user = change.bmc_user or bmc.user
    bmc.port = change.bmc_port or bmc.port
    if change.bmc_password_file is not None:
        bmc.password_file = change.bmc_password_file


def replace(owner: object, attribute: str, items: list[Any]) -> None:
    """Replace a collection whose rows are keyed by what they hold (a role, a network,
    a name): the old rows are deleted before the new ones are inserted."""
    setattr(owner, attribute, [])
    session = object_session(owner)
    if session is not None:
        session.flush()
    setattr(owner, attribute, items)


# -- cells ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CellChange:
    """What `db set cell` changes. `members` is a node set; `qdisk` "" removes it."""

    kind: str | None = None
    members: str | None = None
    member_ids: tuple[tuple[str, int, int], ...] | None = None  # (name, id, votes), exact
    heartbeat: tuple[str, ...] | None = None
    qdisk: str | None = None
    key_file: str | None = None
    heartbeat_ms: int | None = None
    token_ms: int | None = None
    fence_delay_ms: int | None = None
    wait_for_all: bool | None = None
    votes: dict[str, int] = field(default_factory=dict)


def set_cell(session: Session, name: str, change: CellChange) -> bool:
    """Create or update cell `name`; True if it was created."""
    check_name(name, "cell name")
    if change.kind is not None and change.kind not in m.CELL_KINDS:
        raise InventoryInvalid(f"cell kind {change.kind!r}: expected one of "
                               f"{', '.join(m.CELL_KINDS)}")
    cell = session.scalar(select(m.Cell).where(m.Cell.name == name))
    created = cell is None
    if cell is None:
        if change.members is None and change.member_ids is None:
            raise InventoryInvalid(f"cell {name} is new: give its members (--members NODESET)")
        cell = m.Cell(name=name, kind=change.kind or "generic")
        session.add(cell)
    if change.members is not None:
        set_members(session, cell, known_nodes(session, change.members, "members"))
    if change.member_ids is not None:
        set_members(session, cell, [find_node(session, n) for n, _, _ in change.member_ids],
                    [i for _, i, _ in change.member_ids])
        for member, (_, _, votes) in zip(cell.members, change.member_ids, strict=True):
            member.votes = votes
    _cell_settings(cell, change)
    return created


def set_members(session: Session, cell: m.Cell, nodes: Sequence[m.Node],
                ids: Sequence[int] | None = None) -> None:
    """Make `nodes` the members of `cell`: with `ids`, those ids in the same order;
    otherwise kept members keep theirs and new ones get the lowest free ids. A node
    already in another cell is refused."""
    if len(nodes) < MIN_MEMBERS:
        raise InventoryInvalid(f"cell {cell.name}: a cell needs at least {MIN_MEMBERS} "
                               f"members, {len(nodes)} given")
    session.flush()
    query = select(m.CellMember.node_id, m.Cell.name).join(m.Cell).where(
        m.CellMember.node_id.in_([n.id for n in nodes]))
    owners = {node_id: name for node_id, name in session.execute(query)}
    for node in nodes:
        owner = owners.get(node.id)
        if owner is not None and owner != cell.name:
            raise InventoryInvalid(f"node {node.name} is already in cell {owner}: a node "
                                   f"belongs to one cell (remove it there first)")
    names = {n.name for n in nodes}
    if ids is not None:
        replace(cell, "members", [])  # the members refer to nodes: made after the flush
        for node in nodes:  # each still holds its deleted membership in memory
            session.expire(node, ["membership"])
        cell.members = [m.CellMember(node=n, nodeid=i, votes=1)
                        for n, i in zip(nodes, ids, strict=True)]
        return
    cell.members = [mb for mb in cell.members if mb.node.name in names]
    session.flush()
    kept = {mb.node.name for mb in cell.members}
    taken = {mb.nodeid for mb in cell.members}
    for node in nodes:
        if node.name not in kept:
            nodeid = next(i for i in itertools.count(1) if i not in taken)
            taken.add(nodeid)
            cell.members.append(m.CellMember(node=node, nodeid=nodeid, votes=1))


def _cell_settings(cell: m.Cell, change: CellChange) -> None:
    if change.kind is not None:
        cell.kind = change.kind
    if change.heartbeat is not None:
        for net in change.heartbeat:
            check_name(net, "heartbeat network")
        if len(set(change.heartbeat)) != len(change.heartbeat):
            raise InventoryInvalid(f"cell {cell.name}: a heartbeat network is listed twice")
        if change.heartbeat != tuple(h.network for h in cell.heartbeats):
            replace(cell, "heartbeats", [m.Heartbeat(ring=i, network=n)
                                         for i, n in enumerate(change.heartbeat)])
    if change.qdisk is not None:
        if change.qdisk and not change.qdisk.startswith("/"):
            raise InventoryInvalid(f"quorum disk {change.qdisk!r}: expected the LUN's "
                                   f"absolute device path")
        cell.qdisk = {"device": change.qdisk, "label": cell.name} if change.qdisk else None
    for attr in ("key_file", "heartbeat_ms", "token_ms", "fence_delay_ms", "wait_for_all"):
        value = getattr(change, attr)
        if value is not None:
            setattr(cell, attr, value)
    by_name = {mb.node.name: mb for mb in cell.members}
    for node, votes in change.votes.items():
        if node not in by_name:
            raise InventoryInvalid(f"cell {cell.name}: {node} is not a member")
        by_name[node].votes = votes
