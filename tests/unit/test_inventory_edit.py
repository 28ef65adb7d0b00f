"""Changes to the inventory (`db set`/`db remove` underneath): node sets with the
inventory's groups, and every kind of bad input refused with one line that names it,
leaving the database exactly as it was. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from inventorykit import add_node, db, site, state
from sqlalchemy.orm import Session

from tandem.inventory.cellparts import (
    FenceChange,
    ResourceChange,
    ServiceChange,
    set_fence,
    set_resource,
    set_service,
)
from tandem.inventory.database import Database
from tandem.inventory.edit import CellChange, NodeChange, known_nodes, set_cell, set_nodes
from tandem.inventory.errors import InventoryInvalid
from tandem.inventory.remove import remove
from tandem.inventory.show import show
from tandem.inventory.storage import FilesystemChange, TargetChange, set_filesystem, set_target
from tandem.inventory.writes import change

__all__ = ["db"]


def test_node_sets_with_the_inventorys_groups(db: Database) -> None:
    site(db)
    add_node(db, "mds1", 31, roles=("mds",))
    with db.transaction() as session:
        def names(text: str) -> list[str]:
            return [n.name for n in known_nodes(session, text)]

        assert names("io[1-3]") == ["io1", "io2", "io3"]
        assert names("@io!io2") == ["io1", "io3", "io4"]
        assert names("@lustre") == ["io1", "io2", "io3", "io4"]  # the cells' kind
        assert names("@cell:c2,mds1") == ["io3", "io4", "mds1"]
        assert names("@mds") == ["mds1"]


def test_a_service_with_resources_in_order(db: Database) -> None:
    site(db)
    with change(db) as changes:
        set_service(changes.session, "c1", "ost0", ServiceChange(
            domain="io[1-2]", resources=(("disk", "dummy"),)))
        set_resource(changes.session, "c1", "ost0", "vip", ResourceChange(
            agent="ip", params={"address": "198.51.100.50/24", "interface": "eth0"},
            position=1))
    assert changes.versions == {"c1": (1, 2)}
    with db.transaction() as session:
        [row] = show(session, "services", "io1")
    assert row["resources"][0]["name"] == "vip" and row["domain"] == ["io1", "io2"]


@pytest.mark.parametrize(("domain", "order"), [
    ("io2,io1", ["io2", "io1"]), ("io[1-2]", ["io1", "io2"]), ("io[2,1]", ["io1", "io2"]),
    ("io2,@cell:c1", ["io2", "io1"]), ("io[1-2]!io1,io1", ["io2", "io1"]),
])
def test_a_domain_keeps_the_order_written(db: Database, domain: str,
                                          order: list[str]) -> None:
    """A failover domain is a list of preference: `io2,io1` puts io2 first (a node set
    alone would sort it); within one range ClusterShell's order holds."""
    site(db)
    with change(db) as changes:
        set_service(changes.session, "c1", "svc", ServiceChange(
            domain=domain, resources=(("disk", "dummy"),)))
    with db.transaction() as session:
        [row] = show(session, "services", "io1")
    assert row["domain"] == order


def test_fence_devices_make_levels(db: Database) -> None:
    site(db)
    with change(db) as changes:
        set_fence(changes.session, "c1", "pdu", FenceChange(
            type="external", agent="fence_apc", level=2, address="198.51.100.200",
            options={"plug": "1"}, password_file="/etc/tandem/pdu.pw"))
        set_fence(changes.session, "c1", "bmc", FenceChange(type="ipmi", level=1))
    with db.transaction() as session:
        rows = show(session, "fence", "@cell:c1")
    assert [(r["name"], r["level"]) for r in rows] == [("bmc", 1), ("pdu", 2)]


Edit = Callable[[Session], object]
BAD: list[tuple[str, Edit, str]] = [
    ("unknown node", lambda s: set_cell(s, "c3", CellChange(members="io[5-6]")),
     "members 'io[5-6]': unknown nodes io5, io6"),
    ("overlapping node sets", lambda s: set_cell(s, "c3", CellChange(members="io[2-3]")),
     "node io2 is already in cell c1: a node belongs to one cell"),
    ("a cell with one node", lambda s: set_cell(s, "c1", CellChange(members="io1")),
     "cell c1: a cell needs at least 2 members, 1 given"),
    ("a config the loader refuses", lambda s: set_resource(
        s, "c1", "web", "disk", ResourceChange(params={"colour": "red"})),
     "the configuration of cell c1: services[0] (web).resources[0] (disk).params.colour"),
    ("a new service without resources", lambda s: set_service(s, "c1", "x", ServiceChange()),
     "a service needs at least one [[services.resources]]"),
    ("not a node set", lambda s: set_cell(s, "c1", CellChange(members="io[1-")),
     "members 'io[1-': not a node set"),
    ("an unknown group", lambda s: set_cell(s, "c1", CellChange(members="@gpu")),
     "members '@gpu': unknown group @gpu"),
    ("an address without prefix", lambda s: set_nodes(s, ["io1"], NodeChange(
        addresses=(("admin", "eth0", "198.51.100.9"),))), "needs its prefix length"),
    ("one address for many nodes", lambda s: set_nodes(s, ["io1", "io2"], NodeChange(
        addresses=(("admin", "eth0", "198.51.100.9/24"),))), "belong to one node"),
    ("a secret option", lambda s: set_fence(s, "c1", "pdu", FenceChange(
        type="external", agent="fence_apc", options={"passwd": "x"})),
     "fence option 'passwd': the inventory keeps no secrets"),
    ("a bad cell kind", lambda s: set_cell(s, "c1", CellChange(kind="gpfs")),
     "cell kind 'gpfs': expected one of management, nfs, lustre, generic"),
    ("a heartbeat network not everyone has", lambda s: set_cell(
        s, "c1", CellChange(heartbeat=("ib0",))), "heartbeat network 'ib0' is not a network"),
    ("removing a member", lambda s: remove(s, "node", ["io1"]),
     "node io1 is a member of cell c1"),
    ("a target's nodes in two cells", lambda s: (
        set_filesystem(s, "fs1", FilesystemChange(type="lustre")),
        set_target(s, "fs1", "ost0", TargetChange(kind="ost", device="/dev/sdb",
                                                  primary="io1", secondary="io3"))),
     "target ost0: io1 and io3 are not in one cell"),
]


@pytest.mark.parametrize(("what", "edit", "problem"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_and_changes_nothing(db: Database, what: str, edit: Edit,
                                                   problem: str) -> None:
    site(db)
    with change(db) as changes:  # something for the resource cases to refer to
        set_service(changes.session, "c1", "web", ServiceChange(resources=(("disk", "dummy"),)))
    before = state(db)
    with pytest.raises(InventoryInvalid) as caught, change(db) as changes:
        set_nodes(changes.session, ["io4"], NodeChange(roles=("changed",)))  # undone too
        edit(changes.session)
    message = str(caught.value)
    assert problem in message, what
    assert "\n" not in message
    assert state(db) == before


def test_remove_then_add_again(db: Database) -> None:
    site(db)
    with change(db) as changes:
        remove(changes.session, "cell", ["c2"])
        remove(changes.session, "node", ["io4"])
    with db.transaction() as session:
        assert [r["name"] for r in show(session, "cells")] == ["c1"]
        assert [r["cell"] for r in show(session, "nodes", "io3")] == [None]
    add_node(db, "io4", 14)
    with change(db) as changes:
        set_cell(changes.session, "c2", CellChange(members="io[3-4]"))
    assert changes.versions == {"c2": (0, 1)}
