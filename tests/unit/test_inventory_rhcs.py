"""`db import` of a Red Hat Cluster Suite cluster.conf, through the real converter
(tandem.config.importers.rhcs) and the files written for its tests: the nodes'
addresses from `--address` or from the inventory, the converter's notes as
`FILE:LINE: PATH: note`, and one line, nothing changed, for a file that cannot be
complete or that the converter refuses. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from inventorykit import add_node, db, state

from tandem.cli.main import main as tandem_main
from tandem.config import parse_config
from tandem.config.importers.addresses import parse_address
from tandem.inventory.database import Database
from tandem.inventory.edit import find_cell
from tandem.inventory.errors import InventoryInvalid
from tandem.inventory.importer import Imported, ImportSettings, import_files, import_text
from tandem.inventory.secrets import SecretFiles
from tandem.inventory.show import show
from tandem.inventory.writes import change

__all__ = ["db"]
DATA = Path(__file__).parent / "data" / "rhcs"
SITE_CONF = Path(__file__).parents[2] / "examples" / "site" / "io78.conf"
ADDRESSES = {
    "mgmt-pair": ["ns0=admin:eth0:198.51.100.10/24", "ns13=admin:eth0:198.51.100.23/24",
                  "ns0=backbone:eth1:203.0.113.10/24", "ns13=backbone:eth1:203.0.113.23/24"],
    "io-pair-qdisk": ["xena1=admin:eth0:198.51.100.1/24",
                      "xena11=admin:eth0:198.51.100.11/24"],
    "three-node": [f"svc{i}.cluster.example.com=admin:eth0:198.51.100.2{i}/24"
                   for i in (1, 2, 3)] + [f"svc{i}=public:eth1:203.0.113.2{i}/24"
                                          for i in (1, 2, 3)],
}
BROKEN = sorted(p.name for p in DATA.glob("broken-*.conf"))


def _import(db: Database, *paths: Path, addresses: list[str] | None = None,
            secrets_dir: Path | None = None, kind: str | None = None) -> list[Imported]:
    settings = ImportSettings(kind=kind, secrets=SecretFiles(secrets_dir), addresses=tuple(
        parse_address(a) for a in addresses or []))
    with change(db) as changes:
        return import_files(changes.session, list(paths), settings)


def _generated(db: Database, cell: str) -> str:
    """The configuration the inventory generated for `cell` (its first version)."""
    with db.transaction() as session:
        row = find_cell(session, cell)
        assert row.config_version == 1
        return row.config_text


@pytest.mark.parametrize("name", sorted(ADDRESSES))
def test_each_good_file_imports_with_its_addresses(db: Database, name: str) -> None:
    path = DATA / f"{name}.conf"
    [done] = _import(db, path, addresses=ADDRESSES[name], kind="nfs")
    assert done.kind == "cluster.conf"
    expected = [f"{path}:{line}" for line in (DATA / f"{name}.notes").read_text().splitlines()]
    assert list(done.notes[:len(expected)]) == expected
    with db.transaction() as session:
        [cell] = show(session, "cells")
        nodes = {n["name"]: n for n in show(session, "nodes")}
    config = parse_config(_generated(db, cell["name"]))
    assert [n.name for n in config.nodes] == [m["name"] for m in cell["members"]]
    for spec in map(parse_address, ADDRESSES[name]):
        short = spec.node.split(".")[0]
        assert nodes[short]["networks"][spec.network]["address"] == str(spec.address)
    assert [n.name for n in config.rings] == cell["heartbeat"]


def test_the_sites_cell_from_cluster_conf(db: Database, tmp_path: Path) -> None:
    """examples/site/io78.conf, as the README's walk imports it: the BMC passwords are
    expected in the secrets directory, and the notes say which goes where."""
    [done] = _import(db, SITE_CONF, kind="lustre", secrets_dir=tmp_path / "s", addresses=[
        "io7=admin:eth0:198.51.100.17/24", "io8=admin:eth0:198.51.100.18/24",
        "io7=backbone:eth1:203.0.113.17/24", "io8=backbone:eth1:203.0.113.18/24"])
    assert (f"{SITE_CONF}:17: clusternodes/clusternode[io7]/fence/method[1]/device[bmc]: "
            f"passwd not written: put io7's BMC password in {tmp_path}/s/io7-bmc.password"
            in done.notes)
    config = parse_config(_generated(db, "io78"))
    assert [(n.name, n.bmc.password_file if n.bmc else None) for n in config.nodes] == [
        ("io7", f"{tmp_path}/s/io7-bmc.password"), ("io8", f"{tmp_path}/s/io8-bmc.password")]
    assert [n.name for n in config.rings] == ["admin", "backbone"]
    assert {s.name: s.domain.nodes[0][0] for s in config.services} == {
        "svc-io7": "io7", "svc-io8": "io8"}
    assert not (tmp_path / "s").exists()  # nothing inline to write: the notes say


def test_nodes_the_inventory_knows_need_no_address(db: Database) -> None:
    add_node(db, "ns0", 10)
    add_node(db, "ns13", 23)
    [done] = _import(db, DATA / "mgmt-pair.conf")
    with db.transaction() as session:
        [cell] = show(session, "cells")
        nodes = {n["name"]: n for n in show(session, "nodes")}
    assert cell["heartbeat"] == ["admin", "backbone"]  # the inventory's, by name
    assert nodes["ns13"]["networks"]["backbone"]["address"] == "203.0.113.23/24"
    assert done.kind == "cluster.conf"


def test_an_address_given_wins_over_the_inventory(db: Database) -> None:
    add_node(db, "ns0", 10)
    add_node(db, "ns13", 23)
    _import(db, DATA / "mgmt-pair.conf", addresses=["ns0=admin:eth0:198.51.100.40/24",
                                                    "ns0=backbone:eth2:203.0.113.40/24"])
    with db.transaction() as session:
        nodes = {n["name"]: n["networks"] for n in show(session, "nodes")}
    assert nodes["ns0"] == {"admin": {"interface": "eth0", "address": "198.51.100.40/24"},
                            "backbone": {"interface": "eth2", "address": "203.0.113.40/24"}}
    assert nodes["ns13"]["backbone"]["address"] == "203.0.113.23/24"


@pytest.mark.parametrize(("addresses", "problem"), [
    ([], "mgmt-pair.conf: cannot be imported as it is: no address known for ns0, ns13 "
         "(give each node's addresses with --address NODE=NET:IF:ADDR/PREFIX, or describe "
         "the nodes first: db set node NODE --address NET=IF:ADDR/PREFIX)"),
    (["ns0=admin:eth0:198.51.100.10/24"], "no address known for ns13 (give"),
    (ADDRESSES["mgmt-pair"] + ["io9=admin:eth0:198.51.100.99/24"],
     "--address io9=...: no cluster.conf of this import has a node io9"),
    (["ns0=admin:eth0:198.51.100.10/24", "ns0=admin:eth0:198.51.100.11/24",
      "ns13=admin:eth0:198.51.100.23/24"], "two addresses for ns0 on admin"),
])
def test_missing_or_stray_addresses_are_one_line(db: Database, addresses: list[str],
                                                 problem: str) -> None:
    before = state(db)
    with pytest.raises(InventoryInvalid) as caught:
        _import(db, DATA / "mgmt-pair.conf", addresses=addresses)
    assert problem in str(caught.value) and "\n" not in str(caught.value)
    assert state(db) == before


def test_a_file_with_more_to_fill_in_than_addresses(db: Database) -> None:
    """odd.conf names a BMC by a host name and a quorum disk by label only: the
    inventory holds no value to fill in, so the file goes through a cell file."""
    before = state(db)
    with pytest.raises(InventoryInvalid, match=r"odd.conf: cannot be imported as it is: "
                                               r"nodes\[0\].bmc.address, qdisk.device unknown "
                                               r"\(convert it with `tandem config import-rhcs"):
        _import(db, DATA / "odd.conf", addresses=["old1=admin:eth0:198.51.100.31/24",
                                                  "old2=admin:eth0:198.51.100.32/24"])
    assert state(db) == before


@pytest.mark.parametrize("name", BROKEN)
def test_files_the_converter_refuses_change_nothing(db: Database, name: str) -> None:
    add_node(db, "io3", 13)
    before = state(db)
    with pytest.raises(InventoryInvalid) as caught:
        _import(db, DATA / name, addresses=["io3=admin:eth0:198.51.100.13/24"])
    message = str(caught.value)
    assert message.startswith(f"{DATA / name}") and "\n" not in message
    assert state(db) == before


def test_a_cluster_conf_whose_nodes_are_in_another_cell(db: Database) -> None:
    """Overlapping node sets: the nodes are already members of a cell."""
    _import(db, DATA / "mgmt-pair.conf", addresses=ADDRESSES["mgmt-pair"])
    other = DATA / "mgmt-pair.conf"
    text = other.read_text().replace('config_version="7" name="mgmt"',
                                     'config_version="7" name="other"')
    assert text != other.read_text()
    before = state(db)
    with pytest.raises(InventoryInvalid, match="node ns0 is already in cell mgmt"), \
            change(db) as changes:
        import_text(changes.session, text, "other.conf")
    assert state(db) == before


def test_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/inventory.db"
    assert tandem_main(["db", "init", "--db", url]) == 0
    argv = ["db", "import", "--db", url, str(DATA / "mgmt-pair.conf")]
    assert tandem_main([*argv, "--address", "ns0=eth0"]) == 2
    assert "expected NODE=NETWORK:INTERFACE:ADDRESS/PREFIX" in capsys.readouterr().err
    assert tandem_main([*argv, *(f"--address={a}" for a in ADDRESSES["mgmt-pair"])]) == 0
    out = capsys.readouterr().out
    assert f"{DATA / 'mgmt-pair.conf'}: imported (cluster.conf)" in out
    assert f"  note: {DATA / 'mgmt-pair.conf'}:" in out
