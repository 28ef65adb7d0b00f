"""`tandem lustre show|list` on the acceptance site (two I/O cells, fs1 of one MDT and
four OSTs) after the cells reported where their services run: tables for people,
--json for programs, and bad input as one line, exit 2, nothing changed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from inventorykit import state
from test_lustre_services import acceptance, add_targets

from tandem.cli.main import main
from tandem.fleet.source import ServiceLocation
from tandem.inventory.database import Database
from tandem.inventory.source import InventorySource
from tandem.inventory.writes import change

Capture = pytest.CaptureFixture[str]


@pytest.fixture()
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """The acceptance site on SQLite, $TANDEM_DB; lustre_io2 moved to io1 and
    lustre_io4 stopped."""
    url = f"sqlite:///{tmp_path}/inventory.db"
    monkeypatch.setenv("TANDEM_DB", url)
    database = Database(url)
    database.init()
    acceptance(database)
    InventorySource(database).record({
        "c1": [ServiceLocation("lustre_io1", "io1", "started"),
               ServiceLocation("lustre_io2", "io1", "started")],
        "c2": [ServiceLocation("lustre_io3", "io3", "started"),
               ServiceLocation("lustre_io4", None, "stopped")]}, 100.0)
    yield database
    database.dispose()


def _json(capsys: Capture, *argv: str) -> Any:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_list_json_has_every_target_its_nodes_and_service(db: Database,
                                                          capsys: Capture) -> None:
    rows = _json(capsys, "lustre", "list", "--json")
    assert [(r["name"], r["kind"], r["primary"], r["secondary"], r["active"], r["service"],
             r["service_on"]) for r in rows] == [
        ("fs1-MDT0000", "mdt", "io1", "io2", "io1", "lustre_io1", "io1"),
        ("fs1-OST0000", "ost", "io2", "io1", "io1", "lustre_io2", "io1"),
        ("fs1-OST0001", "ost", "io2", "io1", "io1", "lustre_io2", "io1"),
        ("fs1-OST0002", "ost", "io3", "io4", "io3", "lustre_io3", "io3"),
        ("fs1-OST0003", "ost", "io4", "io3", None, "lustre_io4", None)]
    assert rows[1] == {
        "filesystem": "fs1", "name": "fs1-OST0000", "kind": "ost",
        "device": "/dev/mapper/ost0", "primary": "io2", "secondary": "io1", "active": "io1",
        "cell": "c1", "service": "lustre_io2", "mountpoint": "/srv/lustre/fs1/fs1-OST0000",
        "service_on": "io1", "service_state": "started"}
    assert _json(capsys, "lustre", "list", "-f", "fs1", "--json") == rows


def test_list_is_a_table(db: Database, capsys: Capture) -> None:
    capsys.readouterr()
    assert main(["lustre", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["FS", "TARGET", "KIND", "DEVICE", "PRIMARY", "SECONDARY",
                                "ACTIVE", "SERVICE", "RUNS", "ON"]
    assert lines[4].split() == ["fs1", "fs1-OST0002", "ost", "/dev/mapper/ost2", "io3", "io4",
                                "io3", "lustre_io3", "io3"]
    assert lines[5].split() == ["fs1", "fs1-OST0003", "ost", "/dev/mapper/ost3", "io4", "io3",
                                "-", "lustre_io4", "-"]


def test_show_sums_up_each_file_system(db: Database, capsys: Capture) -> None:
    assert _json(capsys, "lustre", "show", "--json") == [{
        "name": "fs1", "mount_point": "/fs1", "mgt": 0, "mdt": 1, "ost": 4, "ha": True,
        "cells": ["c1", "c2"], "migrated": 2, "inactive": 1}]
    capsys.readouterr()
    assert main(["lustre", "show"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["FS", "MGT", "MDT", "OST", "HA", "CELLS", "MIGRATED",
                                "INACTIVE"]
    assert lines[1].split() == ["fs1", "0", "1", "4", "yes", "c1,c2", "2", "1"]


def test_show_one_file_system_or_one_target(db: Database, capsys: Capture) -> None:
    shown = _json(capsys, "lustre", "show", "fs1", "--json")
    assert shown["ost"] == 4 and [t["name"] for t in shown["targets"]] == [
        "fs1-MDT0000", "fs1-OST0000", "fs1-OST0001", "fs1-OST0002", "fs1-OST0003"]
    capsys.readouterr()
    assert main(["lustre", "show", "fs1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "file system fs1: 1 MDT, 4 OST; HA: yes; cells: c1, c2"
    assert out[1] == "  migrated: 2, on no known node: 1; clients mount it at /fs1"
    assert out[2].split()[:2] == ["FS", "TARGET"] and len(out) == 8
    assert _json(capsys, "lustre", "show", "fs1-OST0003", "--json")["secondary"] == "io3"
    capsys.readouterr()
    assert main(["lustre", "show", "fs1-OST0003"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "active: -" in lines and "service: lustre_io4" in lines
    assert "mountpoint: /srv/lustre/fs1/fs1-OST0003" in lines


def test_a_target_outside_any_lustre_cell_has_no_service(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: Capture) -> None:
    from inventorykit import site

    from tandem.inventory.edit import CellChange, set_cell

    url = f"sqlite:///{tmp_path}/other.db"
    monkeypatch.setenv("TANDEM_DB", url)
    database = Database(url)
    database.init()
    site(database)
    with change(database) as changes:
        set_cell(changes.session, "c2", CellChange(kind="management"))
        add_targets(changes.session, (("fs1", "MGS", "mgt", "/dev/mapper/mgs", "io3", "io4"),
                                      ("fs1", "fs1-MDT0000", "mdt", "/dev/m", "io1", "io2")))
    [fs] = _json(capsys, "lustre", "show", "--json")
    assert fs["ha"] is False and fs["mgt"] == 1 and fs["cells"] == ["c1", "c2"]
    mgs = _json(capsys, "lustre", "show", "MGS", "--json")
    assert mgs["service"] is None and mgs["mountpoint"] is None and mgs["cell"] == "c2"
    database.dispose()


@pytest.mark.parametrize(("argv", "message"), [
    (["list", "-f", "nope"], "no Lustre file system named 'nope' in the inventory (file "
                             "systems: fs1)"),
    (["list", "-f", "nope", "--json"], "no Lustre file system named 'nope'"),
    (["show", "nope"], "no Lustre file system or target named 'nope' in the inventory"),
    (["show", "fs1-OST0009", "--json"], "no Lustre file system or target named"),
])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(db: Database, capsys: Capture,
                                                         argv: list[str], message: str) -> None:
    before = state(db)
    capsys.readouterr()
    assert main(["lustre", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("tandem: error: ") and message in captured.err
    assert captured.err.count("\n") == 1
    assert state(db) == before


def test_a_target_name_in_two_file_systems_asks_for_one(db: Database,
                                                        capsys: Capture) -> None:
    with change(db) as changes:
        add_targets(changes.session, (("fs2", "MGS", "mgt", "/dev/mapper/g2", "io3", "io4"),
                                      ("fs3", "MGS", "mgt", "/dev/mapper/g3", "io4", "io3")))
    capsys.readouterr()
    assert main(["lustre", "show", "MGS"]) == 2
    assert capsys.readouterr().err == ("tandem: error: target MGS is in file systems fs2, "
                                       "fs3: `tandem lustre list -f FS` shows each\n")


def test_no_lustre_file_system_yet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: Capture) -> None:
    url = f"sqlite:///{tmp_path}/empty.db"
    monkeypatch.setenv("TANDEM_DB", url)
    assert main(["db", "init"]) == 0
    capsys.readouterr()
    assert main(["lustre", "show"]) == 0 and main(["lustre", "list"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == (
        "no Lustre file system in the inventory\nno Lustre target in the inventory\n")
    assert _json(capsys, "lustre", "list", "--json") == []


def test_the_group_alone_prints_its_usage(capsys: Capture) -> None:
    assert main(["lustre"]) == 2
    assert "show" in capsys.readouterr().err
