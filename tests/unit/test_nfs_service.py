"""HA_NFS from haionfs.conf and -I: the resources in start order with their parameters,
export ids that do not move, interfaces found from the cell's networks; and the command
lines that put it into a cell (`stordepha.nfs -c configure`) or print it (`tandem nfs
service`). The cell files are loaded with the real `nfs_server` and `portblock` agents,
so what is generated must pass their parameter checks."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from tandem.cli.main import main
from tandem.cli.stordepha_cmd import stordepha_nfs_main
from tandem.config import ClusterConfig, parse_config
from tandem.hpc.nfs.haionfs import SharedFs
from tandem.hpc.nfs.service import NfsServiceError, nfs_service, service_toml
from tandem.inventory.database import Database
from tandem.inventory.edit import CellChange, NodeChange, set_cell, set_nodes
from tandem.inventory.storage import ExportChange, set_export
from tandem.inventory.writes import change
from tandem.wire.keyfile import generate_key

CELL = Path(__file__).parents[2] / "examples" / "site" / "io12.toml"
FILESYSTEMS = (SharedFs("/dev/ldn.da0.1", "/mount_point1", "xfs", 3),
               SharedFs("/dev/ldn.da0.2", "/mount_point2", "ext3", 4))
PORTS = [111, 2049, 20048, 32803, 875]


@pytest.fixture()
def config() -> ClusterConfig:
    return parse_config(CELL.read_text(), str(CELL))


def resources(config: ClusterConfig, aliases: list[str],
              fsids: dict[str, int] | None = None) -> list[dict[str, Any]]:
    """The service through its TOML text, as a cell file holds it."""
    text = service_toml(config, nfs_service(config, ["io2", "io1"], FILESYSTEMS, aliases,
                                            fsids))
    (service,) = tomllib.loads(text)["services"]
    assert {k: v for k, v in service.items() if k != "resources"} == {
        "name": "HA_NFS", "autostart": False, "recovery": "relocate",
        "domain": {"nodes": ["io2", "io1"], "restricted": True}}
    found: list[dict[str, Any]] = service["resources"]
    return found


def test_resources_in_start_order_with_their_parameters(config: ClusterConfig) -> None:
    found = resources(config, ["198.51.100.76/24", "203.0.113.135/24", "198.51.100.76/24"])
    assert [(r["name"], r["agent"]) for r in found] == [
        ("fs1", "fs"), ("fs2", "fs"), ("block1", "portblock"), ("block2", "portblock"),
        ("ip1", "ip"), ("ip2", "ip"), ("nfs", "nfs_server"), ("unblock1", "portblock"),
        ("unblock2", "portblock")]
    params = [r["params"] for r in found]
    assert params[0] == {"device": "/dev/ldn.da0.1", "mountpoint": "/mount_point1",
                         "fstype": "xfs"}
    assert params[2] == {"address": "198.51.100.76", "ports": PORTS,
                         "protocols": ["tcp", "udp"], "action": "block"}
    assert params[8] == {**params[3], "action": "unblock"}
    assert params[4:6] == [{"address": "198.51.100.76/24", "interface": "eth0"},
                           {"address": "203.0.113.135/24", "interface": "eth1"}]
    assert params[6] == {"address": "198.51.100.76", "recovery_dir":
                         "/mount_point1/.tandem-nfs",
                         "exports": [{"path": "/mount_point1", "id": 1},
                                     {"path": "/mount_point2", "id": 2}]}
    # each single point of failure is looked at often (the default is every 10 s)
    assert [r.get("monitor_interval_s") for r in found] == [5.0, 5.0, None, None, 2.0, 2.0,
                                                           3.0, None, None]


def test_export_ids_are_stable_and_come_from_the_inventory(config: ClusterConfig) -> None:
    aliases = ["198.51.100.76/24"]
    assert resources(config, aliases) == resources(config, aliases)
    exports = resources(config, aliases, {"/mount_point2": 7})[4]["params"]["exports"]
    assert exports == [{"path": "/mount_point1", "id": 1}, {"path": "/mount_point2", "id": 7}]


@pytest.mark.parametrize(("aliases", "fsids", "problem"), [
    (["198.51.100.76/16"], {}, "-I 198.51.100.76/16: not inside a network of io2 with the "
                               "same prefix (eth0 has 198.51.100.12/24)"),
    (["192.0.2.7/24"], {}, "-I 192.0.2.7/24: not inside a network of io2 "
                           "(198.51.100.0/24, 203.0.113.0/24)"),
    (["198.51.100.12/24"], {}, "-I 198.51.100.12/24: this is the address of io2 on eth0"),
    (["198.51.100.76"], {}, "-I 198.51.100.76: expected ADDR/PREFIX"),
    (["198.51.100.76/24", "198.51.100.76/25"], {}, "-I 198.51.100.76/25: not inside"),
    ([], {}, "HA_NFS needs at least one service address"),
    (["198.51.100.76/24"], {"/mount_point2": 1}, "exports /mount_point1 and /mount_point2 "
                                                 "would both have id 1"),
    (["198.51.100.76/24"], {"/mount_point1": 0}, "export /mount_point1: fsid 0 is reserved"),
])
def test_what_does_not_fit_is_refused(config: ClusterConfig, aliases: list[str],
                                      fsids: dict[str, int], problem: str) -> None:
    with pytest.raises(NfsServiceError) as caught:
        nfs_service(config, ["io2", "io1"], FILESYSTEMS, aliases, fsids)
    assert str(caught.value).startswith(problem)


def test_nodes_naming_the_interface_differently_are_refused(tmp_path: Path) -> None:
    text = CELL.read_text().replace('interface = "eth1", address = "203.0.113.12/24"',
                                    'interface = "bb0", address = "203.0.113.12/24"')
    config = parse_config(text, "io12.toml")
    with pytest.raises(NfsServiceError, match="network backbone differently "
                                              r"\(io1 eth1, io2 bb0\)"):
        nfs_service(config, ["io1", "io2"], FILESYSTEMS, ["203.0.113.135/24"])


# -- command lines -------------------------------------------------------------------
HAIONFS = "/dev/ldn.da0.1 /mount_point1 xfs\n/dev/ldn.da0.2 /mount_point2 ext3\n"


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    """An inventory with the NFS cell io12 (io1, io2), its key, a haionfs.conf."""
    (tmp_path / "bmc.pw").write_text("secret\n")
    (tmp_path / "bmc.pw").chmod(0o600)
    (tmp_path / "keys").mkdir(mode=0o700)
    generate_key(tmp_path / "keys" / "io12.key")
    (tmp_path / "haionfs.conf").write_text(HAIONFS)
    db = Database(f"sqlite:///{tmp_path}/inventory.db")
    db.init()
    with change(db) as changes:
        for n in (1, 2):
            set_nodes(changes.session, [f"io{n}"], NodeChange(
                roles=("io",), addresses=(("admin", "eth0", f"198.51.100.1{n}/24"),),
                bmc_address=f"198.51.100.11{n}", bmc_password_file=str(tmp_path / "bmc.pw")))
        set_cell(changes.session, "io12", CellChange(kind="nfs", members="io[1-2]"))
        set_export(changes.session, "io12", "/mount_point1", ExportChange(fsid=9))
    db.dispose()
    return tmp_path


def nfs_args(site: Path, *extra: str) -> list[str]:
    return ["-c", "configure", "-i", "io1,io2", "-I", "198.51.100.76/24",
            "--haionfs", str(site / "haionfs.conf"), "--db", f"sqlite:///{site}/inventory.db",
            "--key-dir", str(site / "keys"), "--exec", "sh -c 'cat > /dev/null' %h", *extra]


def cell_text(site: Path) -> tuple[int, str]:
    db = Database(f"sqlite:///{site}/inventory.db")
    with db.transaction() as session:
        from tandem.inventory.edit import find_cell

        cell = find_cell(session, "io12")
        found = (cell.config_version, cell.config_text or "")
    db.dispose()
    return found


def test_configure_puts_ha_nfs_into_the_inventory_and_pushes_it(
        site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before, _ = cell_text(site)
    assert stordepha_nfs_main(nfs_args(site)) == 0
    version, text = cell_text(site)
    assert version == before + 1
    (service,) = parse_config(text, "io12").services
    assert service.name == "HA_NFS" and service.resources[-2].params["exports"] == [
        {"path": "/mount_point1", "id": 9}, {"path": "/mount_point2", "id": 2}]
    assert stordepha_nfs_main(nfs_args(site)) == 0  # the same again: nothing moves
    assert cell_text(site) == (version, text)
    capsys.readouterr()
    assert main(["nfs", "service", "--haionfs", str(site / "haionfs.conf"), "-i", "io1,io2",
                 "-I", "198.51.100.76/24", "--db", f"sqlite:///{site}/inventory.db"]) == 0
    assert capsys.readouterr().out in text


@pytest.mark.parametrize(("haionfs", "extra", "problem"), [
    ("/dev/a /a xfs\n/dev/b relative xfs\n", [],
     "haionfs.conf:2: mount point 'relative' is not an absolute path"),
    (HAIONFS, ["-I", "198.51.100.76/16"], "-I 198.51.100.76/16: not inside a network"),
    (HAIONFS, ["-I", ""], "HA_NFS needs at least one service address (-I ADDR/MASK)"),
])
def test_bad_input_is_one_line_exit_two_and_nothing_written(
        site: Path, capsys: pytest.CaptureFixture[str], haionfs: str, extra: list[str],
        problem: str) -> None:
    (site / "haionfs.conf").write_text(haionfs)
    before = cell_text(site)
    assert stordepha_nfs_main([*nfs_args(site), *extra]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("stordepha.nfs: error: ") and problem in captured.err
    assert captured.err.count("\n") == 1 and captured.out == ""
    assert cell_text(site) == before


def test_a_cell_file_is_checked_not_rewritten(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    cells = tmp_path / "cells"
    cells.mkdir()
    (cells / "site.toml").write_text('[kinds]\nio12 = "nfs"\n')
    (cells / "io12.toml").write_text(CELL.read_text())
    (tmp_path / "haionfs.conf").write_text(HAIONFS)
    common = ["-i", "io1,io2", "-I", "198.51.100.76/24", "--haionfs",
              str(tmp_path / "haionfs.conf"), "--from-dir", str(cells)]
    assert stordepha_nfs_main(["-c", "configure", *common, "--exec", "true %h"]) == 2
    assert "its file in" in capsys.readouterr().err
    assert (cells / "io12.toml").read_text() == CELL.read_text()
    assert main(["nfs", "service", *common]) == 0
    table = capsys.readouterr().out
    assert table.startswith("[[services]]\nname = \"HA_NFS\"\nautostart = false\n")
    text = CELL.read_text().replace("config_version = 1", "config_version = 2") + table
    (cells / "io12.toml").write_text(text)
    assert stordepha_nfs_main(["-c", "configure", *common, "--key-dir", str(tmp_path),
                               "--exec", "true %h"]) == 1  # checked; then no key to push
    assert "key of cell io12" in capsys.readouterr().err
