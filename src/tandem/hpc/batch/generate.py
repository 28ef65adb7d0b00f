"""`tandem batch generate`: the PBS Professional and LSF pieces of a management pair,
from the inventory.

The pair is the inventory's management cell (the first by name, or the cell named),
its primary the member with the lowest node id, as in the cell's own configuration
(fencing it waits, so it survives a fence race; its services prefer it). When the
inventory has no management cell, or it is not a pair, the operator names the two
nodes (`--primary NODE --secondary NODE`); their cell, if they share one, still gives
the service address.

The LSF hosts file needs two more things: the service address (the `ip` resource of
the pair's cell, else `--address`) and each node's own address, taken on the network
of the service address (else the network named).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tandem.common.errors import TandemError
from tandem.hpc.batch.lsfconf import IPAddress, lsf_hosts_text
from tandem.hpc.batch.pbsconf import PbsVariant, pbs_conf_text
from tandem.inventory import models as m
from tandem.inventory.database import Database
from tandem.inventory.snapshot import CellSnap, NodeSnap, cell_snap, cells_query, node_snap

PAIR = 2


class PairError(TandemError):
    """The inventory cannot say what the generated file needs (which pair, which
    address); the message says what to give on the command line."""


@dataclass(frozen=True)
class Pair:
    """The two management nodes as the inventory describes them, and their cell's
    service addresses (from its services' `ip` resources)."""

    source: str
    primary: NodeSnap
    secondary: NodeSnap
    addresses: tuple[ipaddress.IPv4Interface | ipaddress.IPv6Interface, ...] = ()

    @property
    def nodes(self) -> tuple[NodeSnap, NodeSnap]:
        return self.primary, self.secondary


def find_pair(db: Database, *, cell: str | None = None, primary: str | None = None,
              secondary: str | None = None) -> Pair:
    """The management pair: the two nodes named, else the members of `cell`, else
    those of the first management cell; PairError saying what to give otherwise."""
    with db.transaction() as session:
        if primary is not None and secondary is not None:
            return _named_pair(session, db.name, primary, secondary, cell)
        snap = _cell(session, cell)
    where = f"the inventory {db.name} (cell {snap.name})"
    if len(snap.members) != PAIR:
        raise PairError(f"{where}: a management pair has {PAIR} nodes, the cell has "
                        f"{len(snap.members)}: give --primary NODE --secondary NODE")
    first, second = (mb.node for mb in snap.members)  # by node id: the primary first
    return Pair(where, first, second, service_addresses(snap))


def _cell(session: Session, name: str | None) -> CellSnap:
    query = cells_query()
    query = query.where(m.Cell.name == name) if name else query.where(
        m.Cell.kind == "management")
    row = session.scalars(query).first()
    if row is None:
        raise PairError(f"no cell {name!r} in the inventory" if name else
                        "the inventory has no management cell: give --primary NODE "
                        "--secondary NODE, or --cell NAME")
    return cell_snap(row)


def _named_pair(session: Session, db: str, primary: str, secondary: str,
                cell: str | None) -> Pair:
    if primary == secondary:
        raise PairError(f"--primary and --secondary are the same node ({primary})")
    nodes = []
    for name in (primary, secondary):
        row = session.scalar(select(m.Node).where(m.Node.name == name))
        if row is None:
            raise PairError(f"no node {name!r} in the inventory {db}")
        nodes.append(row)
    cells = {row.membership.cell.name if row.membership else None for row in nodes}
    shared = cell or (cells.pop() if len(cells) == 1 else None)
    addresses = service_addresses(_cell(session, shared)) if shared else ()
    return Pair(f"the inventory {db}", node_snap(nodes[0]), node_snap(nodes[1]), addresses)


def service_addresses(cell: CellSnap) -> tuple[ipaddress.IPv4Interface |
                                               ipaddress.IPv6Interface, ...]:
    """The addresses of the cell's `ip` resources, each once, in service order."""
    found = [ipaddress.ip_interface(str(r.params["address"]))
             for s in cell.services for r in s.resources
             if r.agent == "ip" and "address" in r.params]
    return tuple(dict.fromkeys(found))


def pbs_conf(pair: Pair, role: str, *, server: str | None = None, home: str | None = None,
             exec_dir: str | None = None, scp: str | None = None) -> str:
    """The pbs.conf of a node of `role` (primary, secondary, compute, login)."""
    given = {k: v for k, v in (("home", home), ("exec_dir", exec_dir), ("scp", scp))
             if v is not None}
    return pbs_conf_text(PbsVariant(role, pair.primary.name, pair.secondary.name,
                                    server=server, **given))


def lsf_hosts(pair: Pair, virtual: str, *, address: str | None = None,
              network: str | None = None) -> str:
    """LSF's hosts file: `virtual` at the service address, each node at its own."""
    service = _service_address(pair, address)
    own = [(node.name, _own_address(pair, node, service, network)) for node in pair.nodes]
    return lsf_hosts_text(virtual, service, own, pair.source)


def _service_address(pair: Pair, given: str | None) -> IPAddress:
    if given is not None:
        try:
            return ipaddress.ip_address(given.split("/", 1)[0])
        except ValueError:
            raise PairError(f"--address {given!r} is not an IP address") from None
    if len(pair.addresses) != 1:
        found = ", ".join(str(a) for a in pair.addresses)
        raise PairError(f"{pair.source}: " + (
            f"several service addresses ({found}): give --address" if found else
            "no ip resource gives the service address: give --address (the pair's "
            "virtual address)"))
    return pair.addresses[0].ip


def _own_address(pair: Pair, node: NodeSnap, service: IPAddress,
                 network: str | None) -> IPAddress:
    """The node's address on `network`, else on the network the service address is in."""
    for itf in node.interfaces:
        on = itf.network == network if network else service in itf.address.network
        if on:
            return itf.address.ip
    where = (f"on network {network!r}" if network else
             f"in the network of the service address {service}")
    known = ", ".join(f"{i.network} {i.address}" for i in node.interfaces) or "none"
    raise PairError(f"{pair.source}: node {node.name} has no address {where} (it has: "
                    f"{known}){'' if network else ': give --network NAME'}")
