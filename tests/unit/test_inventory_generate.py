"""Generation of cell configurations from the inventory: a pure function of a snapshot,
deterministic, hashed, checked by the loader; `config_version` moves only when the
text of that cell changes. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress

import pytest
from inventorykit import add_node, db, site, state, versions

from tandem.config import parse_config
from tandem.config.model import BmcDef, NodeInterface
from tandem.inventory.database import Database
from tandem.inventory.edit import CellChange, NodeChange, set_cell, set_nodes
from tandem.inventory.errors import InventoryInvalid
from tandem.inventory.generate import GeneratedCell, generate, generate_cell
from tandem.inventory.snapshot import CellSnap, MemberSnap, NodeSnap, Snapshot, read_snapshot
from tandem.inventory.writes import change

__all__ = ["db"]


def _node(name: str, n: int, bmc: bool = True) -> NodeSnap:
    return NodeSnap(name, ("io",), (
        NodeInterface("admin", "eth0", ipaddress.ip_interface(f"198.51.100.{n}/24")),
        NodeInterface("backbone", "eth1", ipaddress.ip_interface(f"203.0.113.{n}/24"))),
        BmcDef(f"198.51.100.{100 + n}", password_file="/etc/tandem/bmc.pw") if bmc else None)


def _pair(name: str = "c1", **fields: object) -> CellSnap:
    members = (MemberSnap(_node("io1", 11), 1), MemberSnap(_node("io2", 12), 2))
    cell = CellSnap(name, "lustre", members, ("admin", "backbone"))
    return dataclasses.replace(cell, **fields)  # type: ignore[arg-type]


# -- the pure function -------------------------------------------------------------------------
def test_a_pair_as_the_manual_runs_it() -> None:
    made = generate(Snapshot((_pair(),)))["c1"]
    config = parse_config(made.text)
    assert made.version == config.config_version == 1
    assert made.sha256 == hashlib.sha256(made.text.encode()).hexdigest()
    assert (config.two_node, config.wait_for_all) == (True, True)
    assert [r.name for r in config.rings] == ["admin", "backbone"]
    io1, io2 = config.nodes
    assert [(lv.devices, lv.delay_ms) for lv in io1.fence] == [(("bmc",), 3000)]
    assert [(lv.devices, lv.delay_ms) for lv in io2.fence] == [(("bmc",), None)]
    assert config.fence_device("bmc").type == "ipmi" and io2.bmc is not None
    assert "generated from the tandem inventory" in made.text
    assert "# each node is fenced through its own BMC" in made.text


def test_same_snapshot_same_text_same_version() -> None:
    first = generate_cell(_pair())
    again = generate_cell(_pair(version=first.version, hash=first.sha256))
    assert again == first
    assert generate_cell(_pair(version=first.version, hash=first.sha256)).text == first.text


def test_a_changed_cell_gets_the_next_version() -> None:
    first = generate_cell(_pair())
    changed = generate_cell(_pair(version=first.version, hash=first.sha256,
                                  token_ms=2000))
    assert changed.version == first.version + 1 and changed.sha256 != first.sha256
    assert parse_config(changed.text).timing.token_ms == 2000


def test_a_quorum_disk_replaces_two_node_mode() -> None:
    made = generate_cell(_pair(qdisk={"device": "/dev/mapper/qd1", "label": "c1"}))
    config = parse_config(made.text)
    assert not config.two_node and config.total_votes == 3


@pytest.mark.parametrize(("cell", "problem"), [
    (_pair(heartbeat=("ib0",)), "cell c1: heartbeat network 'ib0' is not a network of its "
                                "members"),
    (CellSnap("c1", "nfs", (MemberSnap(_node("io1", 11), 1),)),
     "cell c1: a cell needs at least 2 members, it has 1"),
    (CellSnap("c1", "nfs", (MemberSnap(_node("io1", 11), 1),
                            MemberSnap(_node("io2", 12, bmc=False), 2))),
     "cell c1: node io2 has no BMC and the cell has no fence device"),
    (_pair(heartbeat_ms=600), "the configuration of cell c1: timing.token_ms: must be at "
                              "least twice heartbeat_ms"),
    (_pair(qdisk={"device": "qd"}), "the quorum disk of cell c1: qdisk.device: expected an "
                                    "absolute path"),
])
def test_a_cell_that_cannot_be_generated(cell: CellSnap, problem: str) -> None:
    with pytest.raises(InventoryInvalid) as caught:
        generate_cell(cell)
    assert str(caught.value).startswith(problem) and "\n" not in str(caught.value)


# -- through the database: versions are kept -----------------------------------------------------
def _generated(db: Database) -> dict[str, GeneratedCell]:
    with db.transaction() as session:
        return generate(read_snapshot(session))


def test_generate_twice_changes_nothing(db: Database) -> None:
    site(db)
    assert versions(db) == {"c1": 1, "c2": 1}
    first = _generated(db)
    assert _generated(db) == first
    assert {n: g.version for n, g in first.items()} == {"c1": 1, "c2": 1}
    with db.transaction() as session:
        stored = {c.name: c for c in read_snapshot(session).cells}
    assert all(stored[n].hash == g.sha256 for n, g in first.items())


def test_an_address_change_moves_that_cell_only(db: Database) -> None:
    site(db)
    with change(db) as changes:
        set_nodes(changes.session, ["io3"], NodeChange(
            addresses=(("admin", "eth0", "198.51.100.33/24"),)))
    assert changes.versions == {"c2": (1, 2)}
    assert versions(db) == {"c1": 1, "c2": 2}
    assert "198.51.100.33/24" in _generated(db)["c2"].text


def test_an_unrelated_change_moves_no_cell(db: Database) -> None:
    site(db)
    before = versions(db)
    add_node(db, "io9", 19)  # in no cell
    with change(db) as changes:
        set_nodes(changes.session, ["io1"], NodeChange(roles=("io", "lustre")))
    assert versions(db) == before
    with change(db) as changes:  # a change that gives the same text back
        set_cell(changes.session, "c1", CellChange(heartbeat=("admin", "backbone")))
    assert changes.versions == {} and versions(db) == before


def test_a_refused_generation_changes_nothing(db: Database) -> None:
    site(db)
    before = state(db)
    with pytest.raises(InventoryInvalid, match="missing an interface on heartbeat network"), \
            change(db) as changes:
        set_nodes(changes.session, ["io2"], NodeChange(drop_networks=("backbone",)))
    assert state(db) == before
