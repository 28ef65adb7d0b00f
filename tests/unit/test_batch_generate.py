"""`tandem batch generate`'s files from the inventory: the manual's four pbs.conf
variants (read back by the pbs.conf reader) and LSF's hosts file with the virtual
name of the active management node. SQLite only: the inventory's own tests cover the
backends."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
from inventorykit import add_node

from tandem.hpc.batch import BatchConfError
from tandem.hpc.batch.generate import Pair, PairError, find_pair, lsf_hosts, pbs_conf
from tandem.hpc.batch.lsfconf import lsf_hosts_text, parse_hosts
from tandem.hpc.batch.pbsconf import ROLES, PbsVariant, parse_pbs_conf, pbs_conf_text
from tandem.inventory.cellparts import ResourceChange, set_resource
from tandem.inventory.database import Database
from tandem.inventory.edit import CellChange, set_cell
from tandem.inventory.writes import change

# The manual's variants (chapter 10), <hostname 1> and <hostname 2> being ns0 and ns13.
MANUAL = {role: [
    "PBS_EXEC=/usr/pbs", "PBS_HOME=/var/spool/PBS", f"PBS_START_SERVER={server}",
    f"PBS_START_MOM={mom}", f"PBS_START_SCHED={sched}", "PBS_SERVER=ns0", "PBS_PRIMARY=ns0",
    "PBS_SECONDARY=ns13", "PBS_SCP=/usr/bin/scp"]
    for role, (server, mom, sched) in (("primary", (1, 0, 1)), ("secondary", (0, 0, 1)),
                                       ("compute", (0, 1, 0)), ("login", (0, 0, 0)))}


def make_cell(db: Database, name: str, kind: str, members: tuple[str, ...],
              address: str | None = None) -> None:
    """A cell of `members` (ids in that order), with a service holding `address`."""
    with change(db) as changes:
        set_cell(changes.session, name, CellChange(
            kind=kind, member_ids=tuple((n, i, 1) for i, n in enumerate(members, start=1)),
            heartbeat=("admin",)))
        if address is not None:
            set_resource(changes.session, name, "HA_NSM", "vip", ResourceChange(
                agent="ip", params={"address": address, "interface": "eth0"}))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """ns0 (198.51.100.1) and ns13 (198.51.100.13) in the management cell, whose
    service address is 198.51.100.65; io1 and io2 in a Lustre cell."""
    database = Database(f"sqlite:///{tmp_path}/inventory.db")
    database.init()
    for name, n in (("ns0", 1), ("ns13", 13), ("io1", 21), ("io2", 22)):
        add_node(database, name, n)
    make_cell(database, "mgmt", "management", ("ns0", "ns13"), "198.51.100.65/24")
    make_cell(database, "lustre1", "lustre", ("io1", "io2"))
    yield database
    database.dispose()


def body(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("#")]


# -- pbs.conf ---------------------------------------------------------------------------------
@pytest.mark.parametrize("role", list(ROLES))
def test_the_manuals_pbs_conf_variants(db: Database, role: str) -> None:
    text = pbs_conf(find_pair(db), role)
    assert body(text) == MANUAL[role]
    assert text.startswith(f"# /etc/pbs.conf of {'a' if role in ('compute', 'login') else 'the'}")
    conf = parse_pbs_conf(text)
    assert conf.role == role and conf.starts == ROLES[role]
    assert {k: s.value for k, s in conf.settings.items()} == dict(
        line.split("=", 1) for line in MANUAL[role])


def test_pbs_conf_choices(db: Database) -> None:
    text = pbs_conf(find_pair(db), "compute", server="pbs", home="/shared/PBS",
                    exec_dir="/opt/pbs", scp="/usr/bin/rsync")
    conf = parse_pbs_conf(text)
    assert [conf.value(k) for k in ("PBS_SERVER", "PBS_HOME", "PBS_EXEC", "PBS_SCP")] == \
        ["pbs", "/shared/PBS", "/opt/pbs", "/usr/bin/rsync"]


@pytest.mark.parametrize(("variant", "problem"), [
    (PbsVariant("master", "a", "b"), "unknown PBS role 'master'"),
    (PbsVariant("primary", "a", "a"), "the same node"),
    (PbsVariant("primary", "a", "b", home="/var/spool/my PBS"), "PBS_HOME: '/var/spool/my PBS'"),
    (PbsVariant("primary", "a", "b", scp=""), "PBS_SCP: ''"),
])
def test_what_pbs_conf_cannot_hold(variant: PbsVariant, problem: str) -> None:
    with pytest.raises(BatchConfError, match=problem):
        pbs_conf_text(variant)


# -- the pair --------------------------------------------------------------------------------------
def test_the_management_cell_is_the_pair(db: Database) -> None:
    pair = find_pair(db)
    assert (pair.primary.name, pair.secondary.name) == ("ns0", "ns13")
    assert [str(a) for a in pair.addresses] == ["198.51.100.65/24"]
    assert "cell mgmt" in pair.source


def test_the_primary_is_the_lowest_node_id(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/other.db")
    db.init()
    add_node(db, "ns0", 1)
    add_node(db, "ns13", 13)
    make_cell(db, "mgmt", "management", ("ns13", "ns0"))
    pair = find_pair(db)
    assert (pair.primary.name, pair.secondary.name, pair.addresses) == ("ns13", "ns0", ())
    db.dispose()


def test_pairs_named_on_the_command_line(db: Database) -> None:
    named = find_pair(db, primary="ns13", secondary="ns0")
    assert (named.primary.name, named.secondary.name) == ("ns13", "ns0")
    assert [str(a) for a in named.addresses] == ["198.51.100.65/24"]  # their shared cell
    apart = find_pair(db, primary="ns0", secondary="io1")
    assert apart.addresses == ()
    assert find_pair(db, cell="lustre1").primary.name == "io1"


@pytest.mark.parametrize(("options", "problem"), [
    ({"primary": "ns0", "secondary": "ns0"}, "the same node"),
    ({"primary": "ns0", "secondary": "ns99"}, "no node 'ns99'"),
    ({"cell": "nope"}, "no cell 'nope'"),
])
def test_what_the_inventory_cannot_say(db: Database, options: dict[str, str],
                                       problem: str) -> None:
    with pytest.raises(PairError, match=problem):
        find_pair(db, **options)


def test_no_management_cell_asks_for_the_pair(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/other.db")
    db.init()
    for name, n in (("a", 1), ("b", 2), ("c", 3)):
        add_node(db, name, n)
    with pytest.raises(PairError, match="no management cell: give --primary NODE "):
        find_pair(db)
    make_cell(db, "mgmt", "management", ("a", "b", "c"))
    with pytest.raises(PairError, match="the cell has 3: give --primary"):
        find_pair(db)
    db.dispose()


# -- LSF's hosts file -----------------------------------------------------------------------------
def test_the_lsf_hosts_file(db: Database) -> None:
    text = lsf_hosts(find_pair(db), "ns")
    assert body(text) == ["198.51.100.65 ns", "198.51.100.1 ns0", "198.51.100.13 ns13"]
    assert "ns is the virtual name of the active management node" in text
    hosts = parse_hosts(text)
    assert [[str(h.address) for h in hosts.naming(n)] for n in ("ns", "ns0", "ns13")] == \
        [["198.51.100.65"], ["198.51.100.1"], ["198.51.100.13"]]


def test_lsf_hosts_choices(db: Database) -> None:
    text = lsf_hosts(find_pair(db), "ns", address="203.0.113.65/24")
    assert body(text) == ["203.0.113.65 ns", "203.0.113.1 ns0", "203.0.113.13 ns13"]
    text = lsf_hosts(find_pair(db), "ns", address="10.0.0.65", network="backbone")
    assert body(text)[1:] == ["203.0.113.1 ns0", "203.0.113.13 ns13"]


@pytest.mark.parametrize(("pair_options", "options", "problem"), [
    ({"primary": "ns0", "secondary": "io1"}, {}, "no ip resource gives the service address: "
                                                "give --address"),
    ({}, {"address": "10.0.0.65"}, "node ns0 has no address in the network of the service "
                                   "address 10.0.0.65 .* give --network NAME"),
    ({}, {"network": "nope"}, "node ns0 has no address on network 'nope'"),
    ({}, {"address": "ns"}, "--address 'ns' is not an IP address"),
])
def test_what_the_lsf_hosts_file_needs(db: Database, pair_options: dict[str, str],
                                       options: dict[str, str], problem: str) -> None:
    with pytest.raises(PairError, match=problem):
        lsf_hosts(find_pair(db, **pair_options), "ns", **options)


def test_several_service_addresses(db: Database) -> None:
    pair = find_pair(db)
    two = Pair(pair.source, pair.primary, pair.secondary,
               (*pair.addresses, ipaddress.ip_interface("198.51.100.66/24")))
    with pytest.raises(PairError, match=r"several service addresses .* give --address"):
        lsf_hosts(two, "ns")


@pytest.mark.parametrize(("virtual", "problem"), [
    ("ns0", "the same name"), ("NS13", "the same name"), ("n s", "cannot be a name"),
])
def test_names_the_hosts_file_cannot_hold(virtual: str, problem: str) -> None:
    nodes = [("ns0", ipaddress.ip_address("10.0.0.1")), ("ns13", ipaddress.ip_address("10.0.0.2"))]
    with pytest.raises(BatchConfError, match=problem):
        lsf_hosts_text(virtual, ipaddress.ip_address("10.0.0.65"), nodes, "test")
    with pytest.raises(BatchConfError, match="the same address"):
        lsf_hosts_text("ns", ipaddress.ip_address("10.0.0.1"), nodes, "test")
