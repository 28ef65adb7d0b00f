"""A Red Hat Cluster Suite cluster.conf on its way into the inventory, through the same
converter as `tandem config import-rhcs` (tandem.config.importers.rhcs).

cluster.conf names nodes, not addresses. Each node's addresses come from the command
line (`db import --address NODE=NET:IF:ADDR/PREFIX`, as import-rhcs takes them) or,
for a node given none there, from the inventory when it already knows the node (all of
its networks, by name). Networks given on the command line are the heartbeat rings in
the order first given, then the inventory's. A node known nowhere, or anything else
the converter leaves to fill in, refuses the file in one line: the inventory holds
only cells that can be generated.

Passwords: the converter never carries a cluster.conf password over; it names a file
in the secrets directory (`--secrets-dir`, else /etc/tandem/fence) and says, in a
note, which password to put there.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from tandem.common.errors import TandemError
from tandem.config import ClusterConfig
from tandem.config.importers.addresses import AddressSpec
from tandem.config.importers.names import host_name
from tandem.config.importers.rhcs import RhcsImport, import_rhcs
from tandem.config.importers.rhcs_context import DEFAULT_SECRETS_DIR, ImportOptions
from tandem.inventory import models as m
from tandem.inventory.errors import InventoryInvalid


class RhcsAddresses:
    """The --address options of one import, and which of them a cluster.conf used."""

    def __init__(self, specs: Sequence[AddressSpec]) -> None:
        self.specs = tuple(specs)
        self.used: set[int] = set()

    def for_nodes(self, names: Sequence[str]) -> list[AddressSpec]:
        """The options naming one of the nodes `names` (by their tandem name or their
        cluster.conf host name)."""
        found = []
        for index, spec in enumerate(self.specs):
            if host_name(spec.node) in names:
                self.used.add(index)
                found.append(spec)
        return found

    def check_all_used(self) -> None:
        """InventoryInvalid for an option that named a node of no imported cluster.conf."""
        for index, spec in enumerate(self.specs):
            if index not in self.used:
                raise InventoryInvalid(f"--address {spec.node}=...: no cluster.conf of this "
                                       f"import has a node {spec.node}")


def import_cluster_conf(session: Session, text: str, source: str, secrets_dir: Path | None,
                        addresses: RhcsAddresses) -> tuple[ClusterConfig, list[str]]:
    """The cell that cluster.conf `text` describes, and the converter's notes as
    `FILE:LINE: PATH: note`; InventoryInvalid (one line) when it cannot be complete."""
    options = ImportOptions(secrets_dir=str(secrets_dir or DEFAULT_SECRETS_DIR))
    first = _convert(text, source, options)
    names = [n.name for n in first.config.nodes]
    given = addresses.for_nodes(names)
    named = {host_name(spec.node) for spec in given}
    known = _inventory_addresses(session, [n for n in names if n not in named])
    result = _convert(text, source, ImportOptions(addresses=(*given, *known),
                                                  secrets_dir=options.secrets_dir))
    if result.fill_ins:
        raise InventoryInvalid(f"{source}: cannot be imported as it is: {_missing(result)}")
    notes = [f"{source}:{note.line}: {note}" for note in result.notes]
    return result.config, notes


def _missing(result: RhcsImport) -> str:
    """What the converter could not know, and what the operator can do about it."""
    lacking = [node.name for index, node in enumerate(result.config.nodes)
               if any(key.startswith(f"nodes[{index}].networks.") for key in result.fill_ins)]
    if lacking:
        return (f"no address known for {', '.join(lacking)} (give each node's addresses "
                f"with --address NODE=NET:IF:ADDR/PREFIX, or describe the nodes first: db "
                f"set node NODE --address NET=IF:ADDR/PREFIX)")
    return (f"{', '.join(result.fill_ins)} unknown (convert it with `tandem config "
            f"import-rhcs FILE -o CELL.toml`, fill those in, and import that file)")


def _convert(text: str, source: str, options: ImportOptions) -> RhcsImport:
    try:
        return import_rhcs(text, source, options)
    except TandemError as exc:
        raise InventoryInvalid(str(exc)) from None


def _inventory_addresses(session: Session, nodes: Sequence[str]) -> list[AddressSpec]:
    """What the inventory knows of `nodes`' addresses, network by network (by name)."""
    query = select(m.Node.name, m.Address.network, m.Address.interface, m.Address.address) \
        .join(m.Address).where(m.Node.name.in_(list(nodes)))
    rows = sorted(session.execute(query), key=lambda row: (row[1], row[0]))
    return [AddressSpec(node, network, interface, ipaddress.ip_interface(address))
            for node, network, interface, address in rows]
