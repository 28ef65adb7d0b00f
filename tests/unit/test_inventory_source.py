"""The inventory as the fleet's CellSource: cells chosen by node sets (-a, -i, -e, the
inventory's groups), each with its generated, loadable configuration; and where the
cells said their services run, kept with its time. On SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from inventorykit import db, site, state

from tandem.common.errors import TandemError
from tandem.config import parse_config
from tandem.fleet.errors import SelectionError
from tandem.fleet.source import CellSource, NodeTarget, Selection, ServiceLocation
from tandem.inventory.database import Database
from tandem.inventory.errors import InventoryInvalid
from tandem.inventory.show import show
from tandem.inventory.source import InventorySource

__all__ = ["db"]


def _names(source: CellSource, selection: Selection) -> list[str]:
    return [t.name for t in source.targets(selection)]


def test_targets_carry_the_generated_configuration(db: Database) -> None:
    site(db)
    source = InventorySource(db)
    [c1] = source.targets(Selection(include="io1"))
    assert c1.kind == "lustre"
    assert c1.nodes == (NodeTarget("io1", "198.51.100.11"), NodeTarget("io2", "198.51.100.12"))
    assert c1.config_text is not None
    assert c1.config_hash == hashlib.sha256(c1.config_text.encode()).hexdigest()
    assert parse_config(c1.config_text).config_version == c1.config_version == 1


@pytest.mark.parametrize(("selection", "cells"), [
    (Selection(all=True), ["c1", "c2", "c3"]),
    (Selection(all=True, exclude="@cell:c2"), ["c1", "c3"]),
    (Selection(include="io[2-3]"), ["c1", "c2"]),
    (Selection(include="@lustre", exclude="io[1-2]"), ["c2", "c3"]),
    (Selection(all=True, exclude="io1"), ["c1", "c2", "c3"]),  # io2 is still selected
])
def test_selections(db: Database, selection: Selection, cells: list[str]) -> None:
    site(db, pairs=3)
    assert _names(InventorySource(db), selection) == cells


@pytest.mark.parametrize(("selection", "problem"), [
    (Selection(include="io[1-9]"), "unknown nodes io7, io8, io9 (not in the inventory)"),
    (Selection(), "the selection names no node (nothing selected)"),
    (Selection(include="io1", exclude="io1"), "the selection names no node (-i io1 -e io1)"),
    (Selection(include="@gpu"), "-i '@gpu': unknown group @gpu"),
])
def test_bad_selections(db: Database, selection: Selection, problem: str) -> None:
    site(db, pairs=3)
    with pytest.raises(SelectionError) as caught:
        InventorySource(db).targets(selection)
    assert str(caught.value).endswith(problem) or problem in str(caught.value)
    assert caught.value.exit_code == 2  # bad input, as for a directory of cell files


def test_where_services_ran_is_kept_with_its_time(db: Database) -> None:
    site(db)
    source = InventorySource(db)
    source.record({"c1": [ServiceLocation("ost0", "io2", "started"),
                          ServiceLocation("ost1", None, "stopped")]}, 1000.5)
    source.record({"c1": [ServiceLocation("ost0", "io1", "started")]}, 1010.0)
    with db.transaction() as session:
        rows = show(session, "locations", "io1")
    assert rows == [{"cell": "c1", "service": "ost0", "node": "io1", "state": "started",
                     "seen_at": 1010.0}]


def test_recording_for_an_unknown_cell_changes_nothing(db: Database) -> None:
    site(db)
    before = state(db)
    with pytest.raises(InventoryInvalid, match="unknown cell 'c9'"):
        InventorySource(db).record({"c1": [ServiceLocation("s", "io1", "started")],
                                    "c9": [ServiceLocation("s", "io1", "started")]}, 1.0)
    assert state(db) == before


def test_a_database_that_is_down_is_one_line(tmp_path: Path) -> None:
    """A PostgreSQL URL where no server listens, and an SQLite file that is gone."""
    for url, problem in ((f"postgresql+psycopg://postgres@/inventory?host={tmp_path}",
                          "is unavailable: "),
                         (f"sqlite:///{tmp_path}/gone.db", "no inventory database at")):
        source = InventorySource(Database(url))
        with pytest.raises(TandemError) as caught:
            source.targets(Selection(all=True))
        assert problem in str(caught.value) and "\n" not in str(caught.value)
        with pytest.raises(TandemError) as caught:
            source.record({"c1": []}, 1.0)
        assert problem in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "gone.db").exists()
