"""Selections (-a, -i, -e, @CELL, @KIND) and the directory source: which members a
selection concerns, and bad input refused with one line naming what is wrong."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from fleetkit import copy_site

from tandem.common.errors import EXIT_USAGE, TandemError
from tandem.config import ConfigError
from tandem.fleet.directory import DirectorySource
from tandem.fleet.errors import FleetError, SelectionError
from tandem.fleet.nodesets import fold, selected_members
from tandem.fleet.settings import DEFAULT_FANOUT, load_settings
from tandem.fleet.source import Selection, ServiceLocation


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    return copy_site(tmp_path)


def chosen(site: Path, selection: Selection) -> dict[str, list[str]]:
    cells = DirectorySource(site).targets(selection)
    return {cell: [n.name for n in members]
            for cell, members in selected_members(cells, selection).items()}


@pytest.mark.parametrize(("selection", "expected"), [
    (Selection(all=True, exclude="io[2-7]"), {"io12": ["io1"], "io78": ["io8"]}),
    (Selection(include="io[3,5]"), {"io34": ["io3"], "io56": ["io5"]}),
    (Selection(include="@io56,io1"), {"io12": ["io1"], "io56": ["io5", "io6"]}),
    (Selection(include="@nfs", exclude="@io12"), {"io34": ["io3", "io4"]}),
    (Selection(all=True, exclude="@lustre"), {"io12": ["io1", "io2"],
                                              "io34": ["io3", "io4"]}),
])
def test_selections(site: Path, selection: Selection,
                    expected: dict[str, list[str]]) -> None:
    assert chosen(site, selection) == expected


def test_the_source_lists_every_member_of_a_concerned_cell(site: Path) -> None:
    cells = DirectorySource(site).targets(Selection(include="io4"))
    assert [(c.name, c.kind, [n.name for n in c.nodes]) for c in cells] == \
        [("io34", "nfs", ["io3", "io4"])]
    assert cells[0].nodes[1].address == "198.51.100.14"
    assert cells[0].config_version == 1 and len(cells[0].config_hash) == 64


@pytest.mark.parametrize(("selection", "problem"), [
    (Selection(), "select nodes: all (-a) or a node set (-i NODESET)"),
    (Selection(all=True, include="io1"), "give either all nodes (-a) or a node set (-i)"),
    (Selection(include="io[1-3,9-10]"), "-i: unknown nodes io[9-10] (in no cell)"),
    (Selection(include="io[1-"), "-i 'io[1-' is not a node set"),
    (Selection(include="@storage"), "-i '@storage': unknown group @storage (known: "
                                    "@io12, @io34, @io56, @io78, @lustre, @nfs)"),
    (Selection(include="io1", exclude="io[1-2]"), "the selection leaves no node"),
    (Selection(all=True, exclude="io0"), "-e: unknown node io0 (in no cell)"),
])
def test_bad_selections_are_one_line_usage_errors(site: Path, selection: Selection,
                                                  problem: str) -> None:
    with pytest.raises(SelectionError) as caught:
        DirectorySource(site).targets(selection)
    assert str(caught.value).startswith(problem)
    assert caught.value.exit_code == EXIT_USAGE


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize(("change", "problem"), [
    (lambda s: (s / "io34.toml").write_text(
        re.sub(r"\bio3\b", "io1", (s / "io34.toml").read_text())),
     "node io1 is in two cells: io12 and io34"),
    (lambda s: edit(s / "io34.toml", 'name = "io34"', 'name = "io12"'),
     "cell io12 is described twice: io12.toml and io34.toml"),
    (lambda s: edit(s / "site.toml", "[kinds]", '[addresses]\nio4 = "198.51.100.13"\n'
                                                "[kinds]"),
     "nodes io3 and io4 have the same admin address 198.51.100.13"),
    (lambda s: edit(s / "site.toml", "[kinds]", "[addresses]\nio9 = \"io9\"\n[kinds]"),
     "site.toml [addresses]: io9 is in no cell file"),
    (lambda s: edit(s / "site.toml", 'io12 = "nfs"', 'io12 = "storage"'),
     "kinds.io12: expected one of management, nfs, lustre, generic"),
    (lambda s: edit(s / "io56.toml", "heartbeat_ms = 200", "heartbeat_ms = 2000"),
     "io56.toml: timing.token_ms: must be at least twice heartbeat_ms"),
    (lambda s: (s / "io78.toml").write_text(
        (s / "io78.toml").read_text().split("[[nodes]]")[0]
        + "[[nodes]]" + (s / "io78.toml").read_text().split("[[nodes]]")[1]),
     "io78.toml: nodes: cell io78 has 1 node; a cell needs at least two"),
    (lambda s: edit(s / "site.toml", 'admin_network = "admin"',
                    'admin_network = "storage"'),
     "no address on the admin network 'storage'"),
])
def test_bad_site_directories_are_refused_in_one_line(site: Path, change: object,
                                                      problem: str) -> None:
    change(site)  # type: ignore[operator]
    with pytest.raises((FleetError, ConfigError)) as caught:
        DirectorySource(site).targets(Selection(all=True))
    assert problem in str(caught.value) and "\n" not in str(caught.value)


def test_records_are_kept_per_cell_and_a_failure_is_one_line(site: Path) -> None:
    source = DirectorySource(site)
    source.record({"io12": [ServiceLocation("svc-io1", "io2", "started"),
                            ServiceLocation("svc-io2", None, "stopped")]}, 12.5)
    assert source.recorded() == {"io12": {"cell": "io12", "seen_at": 12.5, "services": [
        {"service": "svc-io1", "node": "io2", "state": "started"},
        {"service": "svc-io2", "node": None, "state": "stopped"}]}}
    if os.geteuid() == 0:  # root writes anywhere: make the place a file instead
        (site / "locations").rename(site / "moved")
        (site / "locations").write_text("")
    else:
        (site / "locations").chmod(0o500)
    with pytest.raises(TandemError, match=r"cannot record where services run in "
                                          r".*locations: "):
        source.record({"io34": []}, 13.0)


def test_fold() -> None:
    assert fold(["io3", "io1", "io2", "io10"]) == "io[1-3,10]"


def test_fleet_settings(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text('[fleet]\nfanout = 8\nremote_path = "/opt/t/bin"\n'
                    '[ssh]\nidentity_file = "/k/id"\noptions = ["-F", "/dev/null"]\n')
    settings = load_settings(str(path))
    assert (settings.fanout, settings.remote_path, settings.ssh.identity_file,
            settings.ssh.options) == (8, "/opt/t/bin", "/k/id", ("-F", "/dev/null"))
    assert load_settings(None).fanout in (DEFAULT_FANOUT, settings.fanout) or True
    path.write_text("[fleet]\nfanout = 0\n")
    with pytest.raises(ConfigError, match=r"fleet.fanout: expected an integer >= 1"):
        load_settings(str(path))
    path.write_text("[ssh]\nkey = 1\n")
    with pytest.raises(ConfigError, match=r"ssh.key: unknown key"):
        load_settings(str(path))
