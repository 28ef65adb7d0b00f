"""The operations over cells on a site of pretend nodes (fleetkit): what each node and
cell reads as, that push checks everything before anything is sent, that the key goes
on stdin only, and that status records where services run (and still reports when it
cannot)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from fleetkit import PretendSite, cell_keys, copy_site

from tandem.common.errors import TandemError
from tandem.config import ConfigError
from tandem.fleet import remote
from tandem.fleet.directory import DirectorySource
from tandem.fleet.errors import FleetError, SelectionError
from tandem.fleet.operations import Fleet
from tandem.fleet.report import Outcome
from tandem.fleet.settings import FleetSettings
from tandem.fleet.source import CellTarget, Selection, ServiceLocation

ALL = Selection(all=True)


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    return copy_site(tmp_path)


@pytest.fixture()
def nodes(site: Path, tmp_path: Path) -> PretendSite:
    return PretendSite(site, tmp_path)


@pytest.fixture()
def keys(tmp_path: Path) -> Path:
    return cell_keys(tmp_path)


def fleet(site: Path, nodes: PretendSite, keys: Path | None = None) -> Fleet:
    settings = FleetSettings(key_dir=str(keys or "/nonexistent"))
    return Fleet(DirectorySource(site), nodes, settings, clock=lambda: 1000.0)


def states(outcome: Outcome) -> dict[str, str]:
    return {n.node: n.state for c in outcome.cells for n in c.nodes}


def started(site: Path, nodes: PretendSite, keys: Path) -> Fleet:
    ops = fleet(site, nodes, keys)
    assert ops.push(ALL, with_key=True).ok
    assert ops.command("start", ALL).ok
    return ops


def test_blank_site_configure_push_start_status(site: Path, nodes: PretendSite,
                                                keys: Path) -> None:
    ops = fleet(site, nodes, keys)
    assert set(states(ops.status(ALL)).values()) == {"blank"}
    preview = ops.configure(ALL)
    assert set(states(preview).values()) == {"blank"}
    assert preview.ok and not any(n.installed() for n in nodes.nodes.values())

    pushed = ops.push(ALL, with_key=True)
    assert pushed.ok, pushed.failure_line()
    detail = pushed.cells[0].nodes[0].detail
    assert detail == "io12 version 1 installed (tandemd not running); key installed"
    for name, node in nodes.nodes.items():
        cell = nodes.cell_of[name]
        assert node.installed() == (site / f"{cell}.toml").read_text()
        key = node.root / "etc/tandem/cluster.key"
        assert key.stat().st_mode & 0o777 == 0o600
        assert key.read_text() == (keys / f"{cell}.key").read_text()

    assert ops.command("start", ALL).ok
    status = ops.status(ALL)
    assert status.ok and set(states(status).values()) == {"in sync"}
    assert [c.state for c in status.cells] == ["in sync"] * 4
    io12 = status.cells[0]
    assert [(s.name, s.owner, s.migrated) for s in io12.services] == [
        ("svc-io1", "io1", False), ("svc-io2", "io2", False)]
    assert ops.configure(ALL).cells[0].state == "up to date"


def test_the_key_travels_on_stdin_only(site: Path, nodes: PretendSite, keys: Path) -> None:
    started(site, nodes, keys)
    key = (keys / "io12.key").read_text().strip()
    install_jobs = [j for run in nodes.runs for j in run if j.command == remote.INSTALL]
    assert install_jobs and all(key not in j.command for j in install_jobs)
    assert any(j.stdin and key.encode() in j.stdin for j in install_jobs)
    assert not any(key in c for n in nodes.nodes.values() for c in n.commands
                   if c != remote.INSTALL)
    # Without --with-key nothing of the key is sent.
    fleet(site, nodes, keys).push(ALL)
    last = nodes.runs[-1]
    assert all(j.stdin and b'"key"' not in j.stdin for j in last)


def test_push_checks_every_cell_before_sending_anything(site: Path, nodes: PretendSite,
                                                        keys: Path) -> None:
    text = (site / "io78.toml").read_text()
    (site / "io78.toml").write_text(text.replace("id = 2", "id = 1"))
    with pytest.raises(ConfigError, match=r"io78.toml: nodes: node id 1 is used twice"):
        fleet(site, nodes, keys).push(ALL, with_key=True)
    assert nodes.runs == []
    (site / "io78.toml").write_text(text)
    (keys / "io56.key").unlink()
    with pytest.raises(FleetError, match=r"key of cell io56: .*io56.key"):
        fleet(site, nodes, keys).push(ALL, with_key=True)
    assert nodes.runs == []


def test_selection_acts_on_the_selected_members_only(site: Path, nodes: PretendSite,
                                                     keys: Path) -> None:
    ops = fleet(site, nodes, keys)
    outcome = ops.push(Selection(include="io[1-3]", exclude="io2"), with_key=True)
    assert [c.name for c in outcome.cells] == ["io12", "io34"]
    assert sorted(states(outcome)) == ["io1", "io3"]
    assert nodes.nodes["io2"].installed() is None and nodes.nodes["io4"].installed() is None
    by_kind = ops.status(Selection(include="@lustre"))
    assert [c.name for c in by_kind.cells] == ["io56", "io78"]
    with pytest.raises(SelectionError, match=r"-i: unknown node io9 \(in no cell\)"):
        ops.status(Selection(include="io[8-9]"))
    assert len(nodes.runs) == 2  # the bad selection sent nothing


def test_status_reads_each_kind_of_node(site: Path, nodes: PretendSite, keys: Path) -> None:
    started(site, nodes, keys)
    nodes.nodes["io3"].reachable = False
    nodes.nodes["io4"].reachable = False
    nodes.nodes["io5"].reachable = False
    nodes.nodes["io7"].loaded = None  # tandemd stopped
    newer = (site / "io12.toml").read_text().replace("config_version = 1",
                                                     "config_version = 2")
    (site / "io12.toml").write_text(newer)  # the source moved on: the cell is stale
    status = fleet(site, nodes, keys).status(ALL)
    assert states(status) == {"io1": "stale", "io2": "stale", "io3": "unreachable",
                              "io4": "unreachable", "io5": "unreachable",
                              "io6": "in sync", "io7": "stopped", "io8": "in sync"}
    assert [c.state for c in status.cells] == ["stale", "unreachable", "partial", "stopped"]
    assert status.cells[0].nodes[0].detail == "online, runs version 1 < 2"
    assert not status.ok
    assert status.failure_line() == ("4 of 8 nodes did not answer or failed: "
                                     "io[3-5] unreachable; io7 stopped")
    assert status.cells[1].services == ()  # nobody told
    assert "Connection timed out" in status.cells[1].nodes[0].detail


def test_an_installed_file_edited_by_hand_is_stale(site: Path, nodes: PretendSite,
                                                   keys: Path) -> None:
    ops = started(site, nodes, keys)
    config = nodes.nodes["io1"].files.config
    config.write_text(config.read_text() + "# edited\n")
    status = ops.status(Selection(include="@io12"))
    assert states(status) == {"io1": "stale", "io2": "in sync"}
    assert "installed file differs" in status.cells[0].nodes[0].detail
    preview = ops.configure(Selection(include="@io12"), diff=True)
    first = preview.cells[0].nodes[0]
    assert first.state == "refused" and "with other content" in first.detail
    assert preview.cells[0].state == "refused" and not preview.ok


def test_a_node_answering_for_another_cell_is_refused(site: Path, nodes: PretendSite,
                                                      keys: Path) -> None:
    started(site, nodes, keys)
    nodes.nodes["io1"].loaded = nodes.nodes["io3"].loaded
    outcome = fleet(site, nodes, keys).status(Selection(include="io1"))
    assert states(outcome) == {"io1": "refused"}
    assert "answers as io1 of cell io34" in outcome.cells[0].nodes[0].detail


def test_status_shows_which_pair_migrated_and_records_it(site: Path, nodes: PretendSite,
                                                         keys: Path) -> None:
    ops = started(site, nodes, keys)
    nodes.owners["io56"]["svc-io5"] = "io6"  # io5 was lost: its service moved
    nodes.nodes["io5"].reachable = False
    status = ops.status(ALL)
    io56 = status.cells[2]
    assert io56.state == "partial" and io56.seen_by == "io6"
    moved = [(s.name, s.owner, s.home) for s in io56.services if s.migrated]
    assert moved == [("svc-io5", "io6", "io5")]
    assert next(n for n in io56.nodes if n.node == "io6").services == ("svc-io5", "svc-io6")
    kept = DirectorySource(site).recorded()
    assert sorted(kept) == ["io12", "io34", "io56", "io78"]
    assert kept["io56"]["seen_at"] == 1000.0
    assert {s["service"]: s["node"] for s in kept["io56"]["services"]} == {
        "svc-io5": "io6", "svc-io6": "io6"}


class BrokenRecords(DirectorySource):
    """A source whose database is down."""

    def record(self, seen: Mapping[str, Sequence[ServiceLocation]],
               seen_at: float) -> None:
        raise TandemError("inventory database unreachable: connection refused")


def test_a_source_that_cannot_record_still_shows_the_answers(site: Path,
                                                             nodes: PretendSite,
                                                             keys: Path) -> None:
    started(site, nodes, keys)
    ops = Fleet(BrokenRecords(site), nodes, FleetSettings())
    status = ops.status(ALL)
    assert status.ok and len(status.cells) == 4
    assert status.record_error == ("where services run was not recorded: inventory "
                                   "database unreachable: connection refused")


def test_configure_shows_what_would_change(site: Path, nodes: PretendSite,
                                           keys: Path) -> None:
    started(site, nodes, keys)
    text = (site / "io34.toml").read_text()
    (site / "io34.toml").write_text(text.replace("config_version = 1", "config_version = 2")
                                    .replace("token_ms = 2000", "token_ms = 3000"))
    ops = fleet(site, nodes, keys)  # a source reads its files once: a new command
    preview = ops.configure(Selection(include="@io34"), diff=True)
    node = preview.cells[0].nodes[0]
    assert node.state == "would change" and preview.ok
    summary, _, diff = node.detail.partition("\n")
    assert summary == "would install version 2 over version 1 (+2 -2 lines)"
    assert "-token_ms = 2000" in diff and "+token_ms = 3000" in diff
    assert nodes.nodes["io3"].installed() == text  # a preview changes nothing
    pushed = ops.push(Selection(include="@io34"))
    assert pushed.ok
    assert {n.detail for n in pushed.cells[0].nodes} <= {
        "io34 version 2 loaded by tandemd", "io34 version 2 already in place"}
    assert nodes.nodes["io3"].loaded is not None
    assert nodes.nodes["io3"].loaded.config_version == 2


def test_a_node_newer_than_the_source_refuses_the_push(site: Path, nodes: PretendSite,
                                                       keys: Path) -> None:
    ops = started(site, nodes, keys)
    node = nodes.nodes["io8"]
    newer = node.files.config.read_text().replace("config_version = 1", "config_version = 5")
    node.files.config.write_text(newer)
    node.loaded = None
    outcome = ops.push(Selection(include="@io78"))
    assert states(outcome) == {"io7": "ok", "io8": "refused"}
    assert "has version 5, newer than the pushed version 1" in outcome.cells[0].nodes[1].detail
    assert node.files.config.read_text() == newer


def test_quorum_disk_option_must_match_the_cells(site: Path, nodes: PretendSite) -> None:
    ops = fleet(site, nodes)
    with pytest.raises(FleetError, match=r"cell io12 has no quorum disk \(\[qdisk\]\): "
                                         r"drop -q"):
        ops.configure(ALL, qdisk=True)
    assert ops.configure(ALL, qdisk=False).ok
    assert nodes.runs and len(nodes.runs) == 1


class OddSource(DirectorySource):
    """A source whose cells do not match their configurations."""

    def __init__(self, site: Path, change: dict[str, Any]) -> None:
        super().__init__(site)
        self.change = change

    def targets(self, selection: Selection) -> list[CellTarget]:
        import dataclasses

        return [dataclasses.replace(t, **self.change) for t in super().targets(selection)]


@pytest.mark.parametrize(("change", "problem"), [
    ({"config_text": None}, "cell io12: no configuration was generated for it"),
    ({"config_hash": "0" * 64}, "cell io12: its configuration does not match its sha256"),
    ({"config_version": 7}, "cell io12: its configuration says version 1, the source 7"),
    ({"name": "io99"}, "cell io99: its configuration names cluster io12"),
])
def test_a_source_whose_cell_does_not_match_is_refused(site: Path, nodes: PretendSite,
                                                       change: dict[str, Any],
                                                       problem: str) -> None:
    ops = Fleet(OddSource(site, change), nodes, FleetSettings())
    with pytest.raises(FleetError) as caught:
        ops.push(Selection(include="io1"))
    assert str(caught.value).startswith(problem)
    assert nodes.runs == []


def test_start_and_check_report_per_node(site: Path, nodes: PretendSite,
                                         keys: Path) -> None:
    ops = fleet(site, nodes, keys)
    failed = ops.command("start", Selection(include="@io12"))
    assert failed.cells[0].state == "failed"
    assert failed.cells[0].nodes[0].detail == "cs: tandemd did not answer"
    ops.push(ALL, with_key=True)
    checked = ops.command("check", ALL)
    assert checked.ok
    assert checked.cells[3].nodes[1].detail == "/etc/tandem/cluster.toml: OK — cluster io78"
    sha = hashlib.sha256((site / "io78.toml").read_bytes()).hexdigest()
    assert DirectorySource(site).cells()[3].target.config_hash == sha


class CountedRecords(DirectorySource):
    """A source that counts its writes."""

    writes: list[list[str]]

    def record(self, seen: Mapping[str, Sequence[ServiceLocation]],
               seen_at: float) -> None:
        self.writes = [*getattr(self, "writes", []), sorted(seen)]


def test_where_services_run_is_one_write_for_all_cells(site: Path, nodes: PretendSite,
                                                       keys: Path) -> None:
    """A database writes once per status (a transaction per cell cost 0.7 s of 2.5 s
    at 200 cells on PostgreSQL); cells that did not answer are not written."""
    started(site, nodes, keys)
    for node in ("io3", "io4"):
        nodes.nodes[node].reachable = False
    source = CountedRecords(site)
    Fleet(source, nodes, FleetSettings()).status(ALL)
    assert source.writes == [["io12", "io56", "io78"]]
