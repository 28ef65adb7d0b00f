"""The `lustre_<node>` services generated from the inventory's Lustre targets: the
acceptance site (two I/O cells, one file system of one MDT and four OSTs) gives four
services with the targets in start order; every layout the manual forbids is refused
in one line and changes nothing; regenerating is stable; and where a cell says a
service runs becomes the active node of its targets. On SQLite and PostgreSQL.

The generated cells are loaded with the real `lustre_target` agent, so what is
generated meets its parameter checks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from inventorykit import add_node, db, site, state, versions
from sqlalchemy import select
from sqlalchemy.orm import Session

from tandem.config import ClusterConfig, parse_config
from tandem.fleet.source import ServiceLocation
from tandem.hpc.lustre.services import cell_services, primary_of
from tandem.inventory import models as m
from tandem.inventory.cellparts import ServiceChange, set_service
from tandem.inventory.database import Database
from tandem.inventory.edit import CellChange, set_cell
from tandem.inventory.errors import InventoryInvalid
from tandem.inventory.remove import remove
from tandem.inventory.show import show
from tandem.inventory.snapshot import read_snapshot
from tandem.inventory.source import InventorySource
from tandem.inventory.storage import FilesystemChange, TargetChange, set_filesystem, set_target
from tandem.inventory.writes import change, settle

__all__ = ["db"]

# (file system, target, kind, device, primary, secondary)
ACCEPTANCE = (
    ("fs1", "fs1-MDT0000", "mdt", "/dev/mapper/mdt0", "io1", "io2"),
    ("fs1", "fs1-OST0000", "ost", "/dev/mapper/ost0", "io2", "io1"),
    ("fs1", "fs1-OST0001", "ost", "/dev/mapper/ost1", "io2", "io1"),
    ("fs1", "fs1-OST0002", "ost", "/dev/mapper/ost2", "io3", "io4"),
    ("fs1", "fs1-OST0003", "ost", "/dev/mapper/ost3", "io4", "io3"),
)


def add_targets(session: Session, rows: tuple[tuple[str, ...], ...] = ACCEPTANCE) -> None:
    for fs in dict.fromkeys(r[0] for r in rows):
        set_filesystem(session, fs, FilesystemChange(type="lustre", mount_point=f"/{fs}"))
    for fs, name, kind, device, primary, secondary in rows:
        set_target(session, fs, name, TargetChange(kind=kind, device=device, primary=primary,
                                                   secondary=secondary))


def acceptance(db: Database) -> None:
    """Two I/O cells (c1 = io1+io2, c2 = io3+io4) and fs1: one MDT, four OSTs."""
    site(db)
    with change(db) as changes:
        add_targets(changes.session)


def config(db: Database, cell: str) -> ClusterConfig:
    """The cell's stored configuration, loaded (agents' parameters checked)."""
    with db.transaction() as session:
        return parse_config(_text(session, cell))


def _text(session: Session, cell: str) -> str:
    return session.scalars(select(m.Cell.config_text).where(m.Cell.name == cell)).one()


def held(cfg: ClusterConfig) -> dict[str, list[tuple[str, str, dict[str, Any]]]]:
    return {s.name: [(r.name, r.agent, r.params) for r in s.resources]
            for s in cfg.services if primary_of(s.name)}


def test_two_cells_one_mdt_four_osts_give_four_services(db: Database) -> None:
    acceptance(db)
    c1, c2 = config(db, "c1"), config(db, "c2")
    assert held(c1) == {
        "lustre_io1": [("fs1-MDT0000", "lustre_target", {
            "device": "/dev/mapper/mdt0", "mountpoint": "/srv/lustre/fs1/fs1-MDT0000",
            "target": "fs1-MDT0000"})],
        "lustre_io2": [(f"fs1-OST000{i}", "lustre_target", {
            "device": f"/dev/mapper/ost{i}", "mountpoint": f"/srv/lustre/fs1/fs1-OST000{i}",
            "target": f"fs1-OST000{i}"}) for i in (0, 1)]}
    assert {name: [r[0] for r in rs] for name, rs in held(c2).items()} == {
        "lustre_io3": ["fs1-OST0002"], "lustre_io4": ["fs1-OST0003"]}
    for cfg, pairs in ((c1, {"lustre_io1": "io2", "lustre_io2": "io1"}),
                       (c2, {"lustre_io3": "io4", "lustre_io4": "io3"})):
        for name, peer in pairs.items():
            service = cfg.service(name)
            assert service.domain.nodes == ((name.removeprefix("lustre_"), 1), (peer, 2))
            assert service.domain.restricted and not service.domain.failback
            assert not service.autostart and service.recovery == "fence"


def test_targets_start_mgt_then_mdts_then_osts(db: Database) -> None:
    site(db)
    with change(db) as changes:
        add_targets(changes.session, (
            ("fs2", "fs2-OST0001", "ost", "/dev/mapper/b1", "io1", "io2"),
            ("fs2", "fs2-OST0000", "ost", "/dev/mapper/b0", "io1", "io2"),
            ("fs1", "fs1-MDT0000", "mdt", "/dev/mapper/a0", "io1", "io2"),
            ("fs1", "mgs", "mgt", "/dev/mapper/mgs", "io1", "io2"),
            ("fs3", "fs3-OST0000", "ost", "/dev/mapper/c0", "io1", "io2")))
    [(name, resources)] = held(config(db, "c1")).items()
    assert name == "lustre_io1"
    assert [r[0] for r in resources] == ["mgs", "fs1-MDT0000", "fs2-OST0000", "fs2-OST0001",
                                         "fs3-OST0000"]
    assert resources[0][2]["target"] == "MGS"


def test_the_cell_file_says_where_the_services_came_from(db: Database) -> None:
    acceptance(db)
    with db.transaction() as session:
        text = _text(session, "c1")
    assert "# the Lustre targets whose primary is io1, from the inventory" in text


def test_regenerating_is_stable_and_versions_move_with_the_targets(db: Database) -> None:
    acceptance(db)
    before = versions(db)
    with db.transaction() as session:
        first = _text(session, "c1")
    with change(db) as changes:
        settle(changes.session)  # every cell generated again from scratch
        set_target(changes.session, "fs1", "fs1-OST0002", TargetChange(active="io4"))
    with db.transaction() as session:
        assert _text(session, "c1") == first
    assert versions(db) == before and changes.versions == {}  # the active node: no change
    with change(db) as changes:
        set_target(changes.session, "fs1", "fs1-OST0003", TargetChange(device="/dev/sdz"))
    assert changes.versions == {"c2": (before["c2"], before["c2"] + 1)}
    with change(db) as changes:
        remove(changes.session, "filesystem", ["fs1"])
    assert changes.versions == {"c1": (2, 3), "c2": (3, 4)}
    assert held(config(db, "c1")) == {} and held(config(db, "c2")) == {}


def test_the_manuals_crossed_layout_is_allowed(db: Database) -> None:
    """io1 serves fs1's MDT and fs2's OST; io2 the other way round: each is the
    secondary of the other's targets (the manual's two-file-system figure)."""
    site(db)
    with change(db) as changes:
        add_targets(changes.session, (
            ("fs1", "fs1-MDT0000", "mdt", "/dev/mapper/m1", "io1", "io2"),
            ("fs2", "fs2-OST0000", "ost", "/dev/mapper/o2", "io1", "io2"),
            ("fs2", "fs2-MDT0000", "mdt", "/dev/mapper/m2", "io2", "io1"),
            ("fs1", "fs1-OST0000", "ost", "/dev/mapper/o1", "io2", "io1")))
    assert {n: [r[0] for r in rs] for n, rs in held(config(db, "c1")).items()} == {
        "lustre_io1": ["fs1-MDT0000", "fs2-OST0000"],
        "lustre_io2": ["fs2-MDT0000", "fs1-OST0000"]}


Edit = Callable[[Session], object]


def _target(name: str, kind: str, device: str, primary: str,
            secondary: str | None, *, fs: str = "fs1") -> Edit:
    return lambda s: set_target(s, fs, name, TargetChange(
        kind=kind, device=device, primary=primary, secondary=secondary))


def _three_node_cell(s: Session) -> None:
    set_cell(s, "c1", CellChange(members="io[1-2,5]"))
    set_target(s, "fs1", "fs1-OST0000", TargetChange(secondary="io5"))


BAD: list[tuple[str, Edit, str]] = [
    ("MDT and OST of one fs on one primary",
     _target("fs1-OST0009", "ost", "/dev/mapper/x", "io1", "io2"),
     "cell c1: io1 would be the primary of fs1-MDT0000 and fs1-OST0009, the MDT and an OST "
     "of fs1"),
    ("a target without secondary", _target("fs1-OST0009", "ost", "/dev/mapper/x", "io3", None),
     "target fs1-OST0009 of fs1 has no secondary node to fail over to (db set target fs1 "
     "fs1-OST0009 --secondary NODE)"),
    ("the secondary leaves the cell", lambda s: set_cell(s, "c1", CellChange(members="io1,io5")),
     "target fs1-MDT0000 of fs1: its primary io1 and secondary io2 must be two members of "
     "cell c1, the pair that sees its LUN"),
    ("the primary leaves the cell", lambda s: set_cell(s, "c1", CellChange(members="io2,io5")),
     "target fs1-MDT0000 of fs1: its primary io1 and secondary io2 must be two members of "
     "cell c1"),
    ("two targets on one device",
     _target("fs1-OST0009", "ost", "/dev/mapper/ost2", "io4", "io3"),
     "cell c2: targets fs1-OST0002 and fs1-OST0009 are both on /dev/mapper/ost2"),
    ("one node's targets with two secondaries", _three_node_cell,
     "cell c1: the targets of io2 move together (lustre_io2) but name different "
     "secondaries (io1, io5)"),
    ("not a Lustre target name", _target("ost9", "ost", "/dev/mapper/x", "io3", "io4"),
     "target ost9 of fs1: expected its Lustre name, fs1-OST and a 4-digit hex index"),
    ("a kind its name does not say",
     _target("fs1-MDT0009", "ost", "/dev/mapper/x", "io3", "io4"),
     "target fs1-MDT0009 of fs1: expected its Lustre name, fs1-OST"),
    ("a target of a local file system", lambda s: (
        set_filesystem(s, "home", FilesystemChange(type="xfs")),
        _target("home-OST0000", "ost", "/dev/mapper/x", "io3", "io4", fs="home")(s)),
     "target home-OST0000 of home: home is a xfs file system"),
    ("an OST on an NFS cell", lambda s: set_cell(s, "c2", CellChange(kind="nfs")),
     "target fs1-OST0002 of fs1: its nodes are in cell c2, a nfs cell"),
    ("two MGTs on one node", lambda s: (
        _target("mgs", "mgt", "/dev/mapper/g1", "io3", "io4")(s),
        set_filesystem(s, "fs2", FilesystemChange(type="lustre")),
        _target("mgs", "mgt", "/dev/mapper/g2", "io3", "io4", fs="fs2")(s)),
     "cell c2: io3 would serve two MGTs"),
    ("a service of the generated name", lambda s: set_service(s, "c1", "lustre_io1", ServiceChange(
        resources=(("disk", "dummy"),))),
     "cell c1: service lustre_io1 is generated (the Lustre targets whose primary is io1"),
]


@pytest.mark.parametrize(("what", "edit", "problem"), BAD, ids=[b[0] for b in BAD])
def test_refused_layouts_are_one_line_and_change_nothing(db: Database, what: str, edit: Edit,
                                                         problem: str) -> None:
    acceptance(db)
    add_node(db, "io5", 15)
    before = state(db)
    with pytest.raises(InventoryInvalid) as caught, change(db) as changes:
        edit(changes.session)
    message = str(caught.value)
    assert problem in message, what
    assert "\n" not in message
    assert state(db) == before


def test_an_mgt_beside_the_management_pair_is_left_to_it(db: Database) -> None:
    site(db)
    with change(db) as changes:
        set_cell(changes.session, "c2", CellChange(kind="management"))
        add_targets(changes.session, (("fs1", "MGS", "mgt", "/dev/mapper/mgs", "io3", "io4"),))
    assert held(config(db, "c2")) == {}
    with db.transaction() as session:
        assert cell_services(next(c for c in read_snapshot(session).cells
                                  if c.name == "c2")) == []


def _active(db: Database) -> dict[str, str | None]:
    with db.transaction() as session:
        return {row["name"]: row["active"] for row in show(session, "targets")}


def test_where_a_service_runs_becomes_its_targets_active_node(db: Database) -> None:
    acceptance(db)
    source = InventorySource(db)
    before = versions(db)
    source.record({"c1": [ServiceLocation("lustre_io1", "io1", "started"),
                          ServiceLocation("lustre_io2", "io1", "started")],
                   "c2": [ServiceLocation("lustre_io3", "io3", "started"),
                          ServiceLocation("lustre_io4", None, "stopped")]}, 10.0)
    assert _active(db) == {"fs1-MDT0000": "io1", "fs1-OST0000": "io1",
                           "fs1-OST0001": "io1", "fs1-OST0002": "io3",
                           "fs1-OST0003": None}
    source.record({"c1": [ServiceLocation("lustre_io2", "io2", "started"),
                          ServiceLocation("web", "io2", "started")]}, 20.0)
    assert _active(db) == {"fs1-MDT0000": "io1", "fs1-OST0000": "io2",
                           "fs1-OST0001": "io2", "fs1-OST0002": "io3",
                           "fs1-OST0003": None}
    source.record({"c2": [ServiceLocation("lustre_io4", "io4", "started")]}, 30.0)
    assert _active(db)["fs1-OST0003"] == "io4"
    assert versions(db) == before  # where services run changes no configuration


def test_a_location_on_a_node_that_cannot_serve_the_target_is_no_active_node(
        db: Database) -> None:
    """A configuration older than the inventory: lustre_io2 reported on io5, which is
    neither the primary nor the secondary of io2's targets any more."""
    acceptance(db)
    add_node(db, "io5", 15)
    with change(db) as changes:
        set_cell(changes.session, "c1", CellChange(members="io[1-2,5]"))
    InventorySource(db).record({"c1": [ServiceLocation("lustre_io2", "io5", "started")]}, 1.0)
    assert _active(db)["fs1-OST0000"] is None


def test_a_service_of_another_domain_named_alike_is_left_alone(db: Database) -> None:
    acceptance(db)
    with change(db) as changes:
        set_cell(changes.session, "c2", CellChange(kind="generic"))
        remove(changes.session, "filesystem", ["fs1"])
        add_targets(changes.session, (("fs1", "MGS", "mgt", "/dev/mapper/g", "io3", "io4"),))
    InventorySource(db).record({"c2": [ServiceLocation("lustre_io3", "io4", "started")]}, 1.0)
    assert _active(db) == {"MGS": None}
