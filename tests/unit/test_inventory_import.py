"""`db import` and `db export`: the management pair's inventory.toml, cell
configurations, whole-inventory documents that round-trip in TOML and JSON; refusals
change nothing. On SQLite and PostgreSQL. (A cluster.conf: test_inventory_rhcs.py;
inline passwords: test_inventory_secrets.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from inventorykit import db, site, state, versions

from tandem.config import parse_config
from tandem.inventory.cellparts import ServiceChange, set_service
from tandem.inventory.database import Database
from tandem.inventory.errors import InventoryInvalid
from tandem.inventory.export import export_document, render
from tandem.inventory.importer import Imported, ImportSettings, import_files
from tandem.inventory.show import show
from tandem.inventory.storage import (
    ExportChange,
    FilesystemChange,
    TargetChange,
    set_export,
    set_filesystem,
    set_target,
)
from tandem.inventory.writes import change

__all__ = ["db"]
EXAMPLES = Path(__file__).parents[2] / "examples"

PAIR = """
heartbeat = ["admin", "backbone"]
[[nodes]]
name = "ns0"
networks.admin = { interface = "eth0", address = "198.51.100.10/24" }
networks.backbone = { interface = "eth1", address = "203.0.113.10/24" }
bmc = { address = "198.51.100.110", password_file = "/etc/tandem/bmc.pw" }
[[nodes]]
name = "ns13"
networks.admin = { interface = "eth0", address = "198.51.100.13/24" }
networks.backbone = { interface = "eth1", address = "203.0.113.13/24" }
bmc = { address = "198.51.100.113", password_file = "/etc/tandem/bmc.pw" }
"""

OTHERS = PAIR.replace("ns0", "x1").replace("ns13", "x2")
CELL2 = re.sub(r'password = "[^"]*"', 'password_file = "/etc/tandem/bmc.pw"',
               (EXAMPLES / "cell2.toml").read_text())


def _import(db: Database, *paths: Path, kind: str | None = None) -> list[Imported]:
    with change(db) as changes:
        return import_files(changes.session, list(paths), ImportSettings(kind=kind))


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_pairs_inventory_toml_makes_a_management_cell(db: Database, tmp_path: Path) -> None:
    [done] = _import(db, _file(tmp_path, "inventory.toml", PAIR))
    assert done.kind == "inventory document"
    assert done.notes == (f"{tmp_path}/inventory.toml: management cell mgmt made of ns0 "
                          f"and ns13",)
    with db.transaction() as session:
        [cell] = show(session, "cells")
    assert (cell["kind"], cell["heartbeat"], cell["config_version"]) == (
        "management", ["admin", "backbone"], 1)


def test_a_cell_configuration(db: Database, tmp_path: Path) -> None:
    [done] = _import(db, _file(tmp_path, "cell2.toml", CELL2), kind="generic")
    assert done.kind == "cell configuration"
    source = parse_config(CELL2)
    with db.transaction() as session:
        [cell] = show(session, "cells")
        services = show(session, "services")
    assert cell["name"] == source.name
    assert [m["name"] for m in cell["members"]] == [n.name for n in source.nodes]
    assert cell["heartbeat"] == [n.name for n in source.rings]
    assert [s["name"] for s in services] == sorted(s.name for s in source.services)
    assert any("[lab] section is not kept" in note for note in done.notes)


def test_passwords_are_refused(db: Database) -> None:
    """The example inventory.toml has its BMC passwords inline (a lab's): the inventory
    will not keep them."""
    before = state(db)
    with pytest.raises(InventoryInvalid, match=r"node1: BMC: a password in the file: the "
                                               r"inventory keeps no secrets.*--secrets-dir"):
        _import(db, EXAMPLES / "mgmt-ha" / "inventory.toml")
    assert state(db) == before


@pytest.mark.parametrize(("text", "problem"), [
    ("just some words\n", "neither TOML, JSON nor a cluster.conf"),
    ('{"nodes": [', "not valid JSON"),
    ('colour = "red"\n', "colour: unknown key"),
    ('[cluster]\nname = "x"\n', "nodes: at least one [[nodes]] entry is required"),
    (OTHERS + '[[cells]]\nname = "c"\nmembers = [{ name = "x1", id = 1 }, '
              '{ name = "x2", id = 1 }]\n', "cells[0].members: a node id is used twice"),
    (OTHERS + '[[cells]]\nname = "a"\nmembers = ["x1", "x2"]\n'
              '[[cells]]\nname = "b"\nmembers = ["x2", "x1"]\n',
     "node x2 is already in cell a"),
    (OTHERS + '[[cells]]\nname = "a"\nmembers = ["x1"]\n', "a cell needs at least 2"),
    (OTHERS + '[[cells]]\nname = "a"\nmembers = ["x1", "x9"]\n', "unknown node 'x9'"),
])
def test_bad_files_change_nothing(db: Database, tmp_path: Path, text: str,
                                  problem: str) -> None:
    site(db)
    before = state(db)
    good = _file(tmp_path, "good.toml", PAIR)
    with pytest.raises(InventoryInvalid) as caught:
        _import(db, good, _file(tmp_path, "bad.toml", text))
    assert problem in str(caught.value) and "\n" not in str(caught.value)
    assert state(db) == before


def _full_site(db: Database) -> None:
    site(db)
    with change(db) as changes:
        s = changes.session
        set_service(s, "c1", "ost0", ServiceChange(domain="io[2,1]", autostart=False,
                                                   resources=(("disk", "dummy"),)))
        set_filesystem(s, "fs1", FilesystemChange(type="lustre"))
        set_target(s, "fs1", "fs1-OST0000", TargetChange(
            kind="ost", device="/dev/mapper/ost0", primary="io1", secondary="io2",
            active="io2"))
        set_filesystem(s, "home", FilesystemChange(type="xfs", cell="c2",
                                                   device="/dev/mapper/home",
                                                   mount_point="/home"))
    with change(db) as changes:
        from tandem.inventory.edit import CellChange, set_cell

        set_cell(changes.session, "c2", CellChange(kind="nfs", qdisk="/dev/mapper/qd2"))
        set_export(changes.session, "c2", "/home", ExportChange(fsid=7, filesystem="home"))


@pytest.mark.parametrize("fmt", ["toml", "json"])
def test_export_import_round_trip(db: Database, tmp_path: Path, fmt: str) -> None:
    _full_site(db)
    with db.transaction() as session:
        text = render(export_document(session), fmt)
    exported = versions(db)
    other = Database(f"sqlite:///{tmp_path}/other.db")
    other.init()
    _import(other, _file(tmp_path, f"inventory.{fmt}", text))
    with other.transaction() as session:
        assert render(export_document(session), fmt) == text
    assert versions(other) == exported  # the same text at the same version
    _import(db, tmp_path / f"inventory.{fmt}")  # into itself: nothing moves
    assert versions(db) == exported
    other.dispose()


def test_one_cell_twice_in_one_import(db: Database, tmp_path: Path) -> None:
    """A cell file, then a document naming the same cell's members again, in one
    transaction: the second replaces the first's members (it used to crash the ORM)."""
    cell = _file(tmp_path, "cell2.toml", CELL2)
    again = _file(tmp_path, "again.toml", f'[[cells]]\nname = "{parse_config(CELL2).name}"\n'
                  f'members = ["node2", "node1"]\n')
    _import(db, cell, cell, again)
    with db.transaction() as session:
        [row] = show(session, "cells")
    assert [(m["name"], m["id"]) for m in row["members"]] == [("node2", 1), ("node1", 2)]
