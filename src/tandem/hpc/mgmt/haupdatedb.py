"""`haupdatedb`: the inventory database learns which management node is active (the
manual's haupdatedb, "updates the database according to the active node").

It keeps one row of the inventory's service locations, the one the fleet operations
also keep for every cell: HA_NSM of the management cell (the first cell of kind
"management" by name), on this node. `start` records this node, `stop` records that
HA_NSM runs nowhere (only if the row still names this node: a stop here never hides
the peer that took over), `status` checks that the row names this node. The database
is the context's `inventory_url`, else $TANDEM_DB, else the default SQLite file; a
database that cannot be reached or has no management cell fails the action in one line.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from tandem.common.errors import TandemError
from tandem.hpc.mgmt.cellguard import NSM_SERVICE
from tandem.hpc.mgmt.errors import CheckFailed, MgmtError
from tandem.hpc.mgmt.tool import OK, Tool
from tandem.inventory import models as m
from tandem.inventory.database import Database

STARTED, STOPPED = "started", "stopped"


class Haupdatedb(Tool):
    name = "haupdatedb"
    summary = ("record in the inventory database which management node runs HA_NSM "
               "(start: this one; stop: none)")
    actions = ("start", "stop", "status")

    @property
    def me(self) -> str:
        return self.ctx.node.split(".", 1)[0]

    def do_start(self) -> str:
        with self._location() as (cell, row):
            row.node, row.state = self.me, STARTED
            row.seen_at = self.ctx.now().timestamp()
        self.ctx.say(f"inventory: {NSM_SERVICE} of cell {cell} runs on {self.me}")
        return f"{OK} ({self.me} recorded as active)"

    def do_stop(self) -> str:
        with self._location() as (cell, row):
            if row.node not in (self.me, None):
                return f"{OK} (the inventory names {row.node}: left as it is)"
            row.node, row.state = None, STOPPED
            row.seen_at = self.ctx.now().timestamp()
        self.ctx.say(f"inventory: {NSM_SERVICE} of cell {cell} runs nowhere")
        return OK

    def do_status(self) -> str:
        with self._location(write=False) as (cell, row):
            recorded = row.node
        if recorded != self.me:
            raise CheckFailed(f"the inventory says {NSM_SERVICE} of cell {cell} runs on "
                              f"{recorded or 'no node'}, not on {self.me} "
                              f"(`haupdatedb start` records it)")
        return OK

    @contextlib.contextmanager
    def _location(self, write: bool = True) -> Iterator[tuple[str, m.ServiceLocation]]:
        """(cell name, its HA_NSM row, created if missing) in one transaction; any
        failure of the database is one CheckFailed line."""
        try:
            db = Database(self.ctx.inventory_url)
        except TandemError as exc:
            raise CheckFailed(str(exc)) from None
        try:
            with db.transaction(write=write) as session:
                yield self._find(db, session)
        except MgmtError:
            raise
        except TandemError as exc:
            raise CheckFailed(str(exc)) from None
        finally:
            db.dispose()

    def _find(self, db: Database, session: Session) -> tuple[str, m.ServiceLocation]:
        cell = session.scalar(select(m.Cell).where(m.Cell.kind == "management")
                              .order_by(m.Cell.name))
        if cell is None:
            raise CheckFailed(f"inventory database {db.name} has no management cell")
        members = {member.node.name for member in cell.members}
        if self.me not in members:
            raise CheckFailed(f"this node ({self.me}) is not a member of the management "
                              f"cell {cell.name} ({', '.join(sorted(members))})")
        row = session.get(m.ServiceLocation, (cell.id, NSM_SERVICE))
        if row is None:
            row = m.ServiceLocation(cell_id=cell.id, service=NSM_SERVICE, node=None,
                                    state=STOPPED, seen_at=0.0)
            session.add(row)
        return cell.name, row
