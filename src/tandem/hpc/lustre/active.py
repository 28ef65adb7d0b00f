"""The active node of each Lustre target, kept in the inventory from where the cells
say their `lustre_<node>` services run (what the manual's failover scripts wrote to
the LDAP directory at every HA event, for the Lustre tools to read).

The management side records where each service of a cell runs whenever it asks the
cell (`tandem cells status|start|...`, tandem.inventory.source); this is called then,
in the same transaction. Every target held by `lustre_<node>` (a Lustre target whose
primary is that node, a member of the lustre cell) becomes active on the node the
service runs on; on none when it runs nowhere, or on a node that is neither the
target's primary nor its secondary (a configuration older than the inventory).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from tandem.hpc.lustre.services import LUSTRE_CELL, LUSTRE_FS, primary_of
from tandem.inventory import models as m


def record_locations(session: Session, cell: m.Cell,
                     locations: Iterable[tuple[str, str | None]]) -> None:
    """Set the active node of the targets of each `lustre_<node>` in `locations`
    ((service, node it runs on or None) as the cell reported them)."""
    if cell.kind != LUSTRE_CELL:
        return
    members = {mb.node.name: mb.node for mb in cell.members}
    for service, where in locations:
        primary = members.get(primary_of(service) or "")
        if primary is None:
            continue
        owner = members.get(where) if where else None
        targets = session.scalars(select(m.Target).join(m.Filesystem).where(
            m.Target.primary_id == primary.id, m.Filesystem.type == LUSTRE_FS))
        for target in targets:
            serves = owner is not None and owner.id in (target.primary_id,
                                                        target.secondary_id)
            target.active_id = owner.id if serves and owner is not None else None
