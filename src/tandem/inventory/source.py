"""The inventory as the fleet operations' CellSource (tandem.fleet.source): the cells a
selection of nodes concerns, each with its generated configuration, and a place to
keep where the cells said their services run.

Which address the management node reaches a member at: its address on the network
called `admin` when it has one, else on the cell's first heartbeat network, else its
first address.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence

from sqlalchemy import delete, select

from tandem.fleet.errors import SelectionError
from tandem.fleet.source import CellTarget, NodeTarget, Selection, ServiceLocation
from tandem.inventory import models as m
from tandem.inventory.database import Database
from tandem.inventory.edit import find_cell, node_groups
from tandem.inventory.errors import InventoryInvalid
from tandem.inventory.nodesets import NodeGroups
from tandem.inventory.snapshot import cells_query
from tandem.inventory.writes import settle

ADMIN_NETWORK = "admin"
# Modules whose `record_locations(session, cell, [(service, node or None), ...])` keeps
# their part of the inventory in step with where a cell said its services run (the
# active node of the Lustre targets of each lustre_<node>).
LOCATION_HOOKS = ("tandem.hpc.lustre.active",)


class InventorySource:
    """CellSource over an inventory database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def targets(self, selection: Selection) -> list[CellTarget]:
        with self.db.transaction() as session:
            groups = node_groups(session)
            known = set(session.scalars(select(m.Node.name)))
            try:
                wanted = _selected(selection, groups, known)
            except InventoryInvalid as exc:  # bad input, as the fleet says it (exit 2)
                raise SelectionError(str(exc)) from None
            cells = [c for c in session.scalars(cells_query())
                     if any(mb.node.name in wanted for mb in c.members)]
            stale = [c.name for c in cells if not c.config_text]
        if stale:  # never generated (a database filled by other means): do it now
            with self.db.transaction(write=True) as session:
                settle(session)
            return self.targets(selection)
        if not cells:
            raise SelectionError(f"no cell has a member in the selection "
                                   f"({_describe(selection)})")
        return [_target(c, wanted) for c in cells]

    def record(self, seen: Mapping[str, Sequence[ServiceLocation]],
               seen_at: float) -> None:
        """One transaction for every cell of `seen` (an unknown cell: nothing kept),
        which also tells the LOCATION_HOOKS."""
        with self.db.transaction(write=True) as session:
            cells = {name: find_cell(session, name) for name in sorted(seen)}
            ids = {name: cell.id for name, cell in cells.items()}
            session.execute(delete(m.ServiceLocation).where(
                m.ServiceLocation.cell_id.in_(list(ids.values()))))
            session.add_all(m.ServiceLocation(
                cell_id=ids[cell], service=location.service, node=location.node,
                state=location.state, seen_at=seen_at)
                for cell, locations in seen.items() for location in locations)
            for module in LOCATION_HOOKS:
                hook = importlib.import_module(module).record_locations
                for name, cell in cells.items():
                    hook(session, cell, [(loc.service, loc.node) for loc in seen[name]])


def _selected(selection: Selection, groups: NodeGroups, known: set[str]) -> set[str]:
    expand = groups.expand
    include: set[str] = set(known) if selection.all else set()
    if selection.include:
        include |= set(expand(selection.include, "-i"))
    exclude = set(expand(selection.exclude, "-e")) if selection.exclude else set()
    unknown = sorted((include | exclude) - known)
    if unknown:
        raise InventoryInvalid(f"unknown node{'s' if len(unknown) > 1 else ''} "
                               f"{', '.join(unknown)} (not in the inventory)")
    chosen = include - exclude
    if not chosen:
        raise InventoryInvalid(f"the selection names no node ({_describe(selection)})")
    return chosen


def _describe(selection: Selection) -> str:
    parts = ["-a"] if selection.all else []
    parts += [f"-i {selection.include}"] if selection.include else []
    parts += [f"-e {selection.exclude}"] if selection.exclude else []
    return " ".join(parts) or "nothing selected"


def _target(cell: m.Cell, wanted: set[str]) -> CellTarget:
    first_ring = cell.heartbeats[0].network if cell.heartbeats else None
    nodes = []
    for member in cell.members:
        by_net = {a.network: a.address for a in member.node.addresses}
        address = (by_net.get(ADMIN_NETWORK) or (by_net.get(first_ring) if first_ring else None)
                   or next(iter(by_net.values()), ""))
        nodes.append(NodeTarget(member.node.name, address.split("/", 1)[0]))
    return CellTarget(cell.name, cell.kind, tuple(nodes), cell.config_text,
                      cell.config_version, cell.config_hash,
                      selected=tuple(n.name for n in nodes if n.name in wanted))
