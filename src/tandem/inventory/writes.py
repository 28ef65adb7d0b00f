"""Every change to the inventory goes through `change()`: one transaction that ends by
generating the configuration of each cell the change touched. A cell the loader would
refuse (or one of fewer than two members) aborts the whole change, so the database
never holds a cell that cannot be pushed, and `config_version` moves exactly when a
cell's generated text does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from tandem.inventory import models as m
from tandem.inventory.database import Database
from tandem.inventory.generate import GeneratedCell, generate
from tandem.inventory.snapshot import Snapshot, read_snapshot


@dataclass
class Changes:
    """A write in progress; once committed, `versions` holds each cell whose
    configuration moved: (version before, version now). `before_commit` runs once
    every cell is generated, still inside the transaction (an error there undoes it
    all): files that must exist exactly when the change does are written then."""

    session: Session
    versions: dict[str, tuple[int, int]] = field(default_factory=dict)
    before_commit: list[Callable[[], None]] = field(default_factory=list)


@contextlib.contextmanager
def change(db: Database) -> Iterator[Changes]:
    """A write transaction; on leaving it, the changed cells are generated and their
    text, hash and version stored, then everything is committed (or nothing)."""
    with db.transaction(write=True) as session:
        before = read_snapshot(session)
        changes = Changes(session)
        yield changes
        changes.versions = settle(session, before)
        for step in changes.before_commit:
            step()


def settle(session: Session, before: Snapshot | None = None) -> dict[str, tuple[int, int]]:
    """Generate every cell that differs from `before` (all of them without it) and
    store the result; {cell: (version before, version now)} for those that moved."""
    session.flush()
    session.expire_all()  # read back in the tables' order, not the order of our edits
    after = read_snapshot(session)
    changed = [c.name for c in after.cells if before is None or before.cell(c.name) != c]
    made: dict[str, GeneratedCell] = generate(after, changed)
    rows = {c.name: c for c in session.scalars(select(m.Cell).where(m.Cell.name.in_(changed)))}
    moved = {}
    for name, cell in made.items():
        row = rows[name]
        if (row.config_version, row.config_hash, row.config_text) != (
                cell.version, cell.sha256, cell.text):
            if row.config_version != cell.version:
                moved[name] = (row.config_version, cell.version)
            row.config_version, row.config_hash, row.config_text = (
                cell.version, cell.sha256, cell.text)
    session.flush()
    return moved
