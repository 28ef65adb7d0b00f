"""`tandem db ...` as an administrator types it (on an SQLite file), bad input as one
line that changes nothing, and `tandem ha config-admin` reading the management pair
from the inventory database."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from tandem.cli.main import main
from tandem.config import parse_config

NODES = [
    ["io[1-4]", "--roles", "io"],
    *[[f"io{i}", "--address", f"admin=eth0:198.51.100.1{i}/24",
       "--address", f"backbone=eth1:203.0.113.1{i}/24", "--bmc", f"198.51.100.10{i}",
       "--bmc-password-file", "/etc/tandem/bmc.pw"] for i in range(1, 5)],
]


@pytest.fixture()
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An initialised inventory with io1..io4 and the cell c1 = io[1-2]; $TANDEM_DB."""
    address = f"sqlite:///{tmp_path}/inventory.db"
    monkeypatch.setenv("TANDEM_DB", address)
    assert main(["db", "init"]) == 0
    for argv in NODES:
        assert main(["db", "set", "node", *argv]) == 0
    assert main(["db", "set", "cell", "c1", "--kind", "lustre", "--members", "io[1-2]",
                 "--heartbeat", "admin,backbone"]) == 0
    return address


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_describe_generate_and_show(url: str, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["db", "set", "cell", "c2", "--kind", "nfs", "--members", "io[3-4]",
                 "--qdisk", "/dev/mapper/qd2"]) == 0
    assert capsys.readouterr().out == ("cell c2: added\n"
                                       "cell c2: configuration version 1 (first)\n")
    cells = _json(capsys, "db", "show", "cells", "@io", "--json")
    assert [(c["name"], c["kind"], c["config_version"]) for c in cells] == [  # type: ignore[attr-defined]
        ("c1", "lustre", 1), ("c2", "nfs", 1)]
    nodes = _json(capsys, "db", "show", "nodes", "@cell:c2", "--json")
    assert [n["name"] for n in nodes] == ["io3", "io4"]  # type: ignore[attr-defined]
    assert main(["db", "generate", "-o", str(tmp_path / "cells")]) == 0
    config = parse_config((tmp_path / "cells" / "c2.toml").read_text())
    assert config.name == "c2" and not config.two_node
    assert main(["db", "show", "services"]) == 0  # a table, even empty


def test_export_then_import_elsewhere(url: str, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "site.toml"
    assert main(["db", "export", "-o", str(out)]) == 0
    assert [n["name"] for n in tomllib.loads(out.read_text())["nodes"]] == [
        "io1", "io2", "io3", "io4"]
    other = f"sqlite:///{tmp_path}/other.db"
    assert main(["db", "init", "--db", other]) == 0
    assert main(["db", "import", "--db", other, str(out)]) == 0
    capsys.readouterr()
    assert main(["db", "export", "--db", other, "--json"]) == 0
    assert main(["db", "export", "--json"]) == 0
    first, second = capsys.readouterr().out.split("\n}\n", 1)
    assert first + "\n}\n" == second


@pytest.mark.parametrize(("argv", "status", "message"), [
    (["set", "cell", "c2", "--members", "io[2-3]"], 1,
     "node io2 is already in cell c1: a node belongs to one cell"),
    (["set", "cell", "c2", "--members", "io3"], 1, "a cell needs at least 2 members"),
    (["set", "cell", "c2", "--members", "io[3-9]"], 1, "unknown nodes io5, io6, io7"),
    (["set", "node", "io1", "--bmc-password", "hunter2"], 2,
     "--bmc-password: the inventory keeps no secrets"),
    (["set", "fence", "c1", "pdu", "--type", "manual", "--password", "hunter2"], 2,
     "--password: the inventory keeps no secrets"),
    (["set", "node", "io1", "--address", "admin"], 2, "--address: expected NET=IF:ADDR"),
    (["set", "cell", "c1", "--heartbeat", "ib0"], 1, "heartbeat network 'ib0' is not a"),
    (["show", "nodes", "io[1-"], 1, "not a node set"),
    (["remove", "node", "io1"], 1, "node io1 is a member of cell c1"),
    (["import", "/nonexistent.toml"], 1, "/nonexistent.toml: cannot read"),
])
def test_bad_input_is_one_line(url: str, capsys: pytest.CaptureFixture[str], argv: list[str],
                               status: int, message: str) -> None:
    capsys.readouterr()
    assert main(["db", "export", "--json"]) == 0
    before = capsys.readouterr().out
    assert main(["db", *argv]) == status
    captured = capsys.readouterr()
    assert captured.err.startswith("tandem: error: ") and message in captured.err
    assert captured.err.count("\n") == 1 and "hunter2" not in captured.err + captured.out
    assert main(["db", "export", "--json"]) == 0
    assert capsys.readouterr().out == before


def test_no_database_yet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "none.db"
    assert main(["db", "show", "--db", f"sqlite:///{path}"]) == 1
    assert capsys.readouterr().err == (f"tandem: error: no inventory database at {path}: run "
                                       f"`tandem db init` (or give --db URL)\n")


@pytest.mark.parametrize("argv", [["db"], ["db", "set"], ["db", "show"], ["db", "set", "node"],
                                  ["db", "set", "resource"], ["db", "import"]])
def test_help_everywhere(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ended:
        main([*argv, "--help"])
    assert ended.value.code == 0 and "usage: tandem" in capsys.readouterr().out


def test_config_admin_reads_the_management_cell(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """No inventory.toml at all: the pair, addresses and BMCs come from the database."""
    db = f"sqlite:///{tmp_path}/inventory.db"
    root = tmp_path / "HA"
    root.mkdir()
    for name, text in {"start": "/etc/HA/bin/haip\n", "stop": "/etc/HA/bin/haip\n",
                       "status": "", "ip": "\teth0\t198.51.100.65/24\n"}.items():
        (root / name).write_text(text)
    assert main(["db", "init", "--db", db]) == 0
    for node, n in (("ns0", 10), ("ns13", 13)):
        assert main(["db", "set", "node", node, "--db", db, "--address",
                     f"admin=eth0:198.51.100.{n}/24", "--bmc", f"198.51.100.{100 + n}",
                     "--bmc-password-file", "/etc/tandem/bmc.pw"]) == 0
    assert main(["db", "set", "cell", "mgmt", "--db", db, "--kind", "management",
                 "--members", "ns[0,13]"]) == 0
    capsys.readouterr()
    assert main(["ha", "config-admin", "--root", str(root), "--db", db, "-q"]) == 0
    captured = capsys.readouterr()
    config = parse_config(captured.out)
    assert [n.name for n in config.nodes] == ["ns0", "ns13"]
    assert config.node("ns13").bmc is not None
    assert "# from " in captured.out and "the inventory database" in captured.out
