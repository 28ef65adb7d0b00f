"""The management pair as the inventory database describes it, in the shape of the
small TOML inventory (tandem.inventory.tomlfile) that `tandem ha config-admin` reads:
the members of the database's management cell, their addresses and BMCs, and the
cell's heartbeat networks."""

from __future__ import annotations

from tandem.inventory import models as m
from tandem.inventory.database import Database
from tandem.inventory.snapshot import cell_snap, cells_query
from tandem.inventory.tomlfile import Inventory, InventoryNode


def management_pair(db: Database, *, missing_ok: bool) -> tuple[Inventory, list[str]] | None:
    """(the pair's inventory, its members' names) from the first management cell by
    name; None when the database has none, or (`missing_ok`) when its SQLite file does
    not exist."""
    path = db.path
    if missing_ok and path is not None and not path.exists():
        return None
    with db.transaction() as session:
        cell = session.scalar(cells_query().where(m.Cell.kind == "management"))
        snap = cell_snap(cell) if cell is not None else None
    if snap is None:
        return None
    nodes = {mb.node.name: InventoryNode(mb.node.name, mb.node.interfaces, mb.node.bmc)
             for mb in snap.members}
    source = f"the inventory database {db.name} (cell {snap.name})"
    return Inventory(source, nodes, snap.heartbeat), [mb.node.name for mb in snap.members]
