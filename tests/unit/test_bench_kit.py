"""The bench scaffold without a lab: profiles whose quorum disk follows the token (the
fast campaign's cells load), one-line errors from every script, lab names that carry
their run, and the campaign's judgement of fences the fault did not call for."""

from __future__ import annotations

import argparse
import os
import random
from dataclasses import dataclass
from typing import cast

import pytest

from benchlib import cli, labs
from benchlib.errors import BenchError
from benchlib.profiles import PROFILES, Profile
from chaos.campaign import CampaignResult, FaultRecord, Options, healthy_fenced
from chaos.cell import Cell
from chaos.cells import campaign_cell, parse, scale_cell
from chaos.faults import FaultContext, Injected, loss
from tandem.config import ConfigError
from tandem.lab.proc import LabError
from tandem.quorum.qdisk.config import QdiskDef

# -- profiles -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_builds_cells_that_load(name: str) -> None:
    profile = PROFILES[name]
    assert parse(scale_cell("scale", 4, 8, profile)).timing.token_ms == profile.token_ms
    for nodes in (2, 3):
        config = parse(campaign_cell("chaos", nodes, profile, qdisk=False))
        assert config.timing.token_ms == profile.token_ms
    if not profile.qdisk:  # turbo: refused in words, not as a cell that fails to load
        with pytest.raises(BenchError, match="too short for a quorum disk cell"):
            campaign_cell("chaos", 2, profile, qdisk=True)
        return
    disk = parse(campaign_cell("chaos", 2, profile, qdisk=True)).section(QdiskDef)
    assert disk is not None
    assert (disk.interval_ms, disk.tko) == (profile.qdisk_interval_ms, profile.qdisk_tko)
    assert (disk.tko + 2) * disk.interval_ms < profile.token_ms


def test_the_old_fixed_disk_cycle_is_refused_at_the_fast_token() -> None:
    """What `campaign.py --profile fast` stopped on: 100 ms x 5 against a 300 ms token."""
    with pytest.raises(BenchError, match="not below the token"):
        Profile("fast", 75, 300, qdisk_interval_ms=100, qdisk_tko=5)
    old = campaign_cell("chaos", 2, PROFILES["fast"], qdisk=True).replace(
        "interval_ms = 50\ntko = 3", "interval_ms = 100\ntko = 5")
    with pytest.raises(ConfigError, match="exceeds the token"):
        parse(old)


# -- one-line errors ------------------------------------------------------------------------


@pytest.fixture()
def as_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """cli.run as root, without touching the machine's labs."""
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(cli, "cleanup_leftovers", lambda *_a, **_k: [])
    monkeypatch.delenv("BENCH_TRACEBACK", raising=False)


def run_body(error: BaseException) -> int:
    def body(_args: argparse.Namespace) -> int:
        raise error

    return cli.run(argparse.Namespace(cleanup=False), body)


@pytest.mark.parametrize(("error", "line"), [
    (BenchError("the cell did not come back:\n  node1 off"),
     "bench: error: the cell did not come back: node1 off"),
    (LabError("lab 'x' already exists"), "bench: error: lab 'x' already exists"),
    (ConfigError("cell.toml", "qdisk.tko", "too long"),
     "bench: error: cell.toml: qdisk.tko: too long"),
    (RuntimeError("boom"), "bench: error: unexpected RuntimeError: boom (BENCH_TRACEBACK=1 "
                           "shows where)"),
])
def test_every_error_is_one_line(as_root: None, capsys: pytest.CaptureFixture[str],
                                 error: Exception, line: str) -> None:
    assert run_body(error) == 1
    assert capsys.readouterr().err == line + "\n"


def test_interrupt_and_bad_usage(as_root: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_body(KeyboardInterrupt()) == 130
    assert capsys.readouterr().err == "bench: interrupted; labs removed\n"
    parser = cli.parser("bench/x.py", "x")
    parser.add_argument("--runs", type=int)
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["--runs", "many"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bench: error: bench/x.py: argument")


# -- lab names ------------------------------------------------------------------------------


def test_lab_names_carry_their_run() -> None:
    mine = labs.lab_name("p500")
    assert mine == f"bench-p500-{os.getpid()}" and labs.owner_alive(mine)
    assert not labs.owner_alive("bench-td-999999999")  # no such process
    assert not labs.owner_alive("bench-tandem-default")  # older naming: no owner
    with pytest.raises(BenchError, match="at most 24"):
        labs.lab_name("averyveryverylongtag")


# -- the campaign's judgement ---------------------------------------------------------------


def injected(kind: str, victim: str | None, *, gone: bool = False,
             may_fence: frozenset[str] | None = None) -> Injected:
    return Injected(kind, "v", "d", victim, 0.0, 10.0, gone=gone, may_fence=may_fence)


def test_a_fence_of_anyone_but_a_gone_victim_is_a_healthy_node_fenced() -> None:
    crash = injected("crash", "node1", gone=True)
    assert healthy_fenced(crash, {"node1"}) == []
    assert healthy_fenced(crash, {"node1", "node2"}) == [
        "node2 fenced, though crash (v) may fence node1"]
    short_hang = injected("hang", "node1")
    assert healthy_fenced(short_hang, {"node1"}) == [
        "node1 fenced, though hang (v) may fence nobody"]
    race = injected("link-cut", "node1", gone=True, may_fence=frozenset({"node1", "node2"}))
    assert healthy_fenced(race, {"node2"}) == []


@dataclass
class FakeCell:
    nodes: list[str]


class Rng:
    """Draws that pick the data service's owner, every ring, and first choices."""

    def random(self) -> float:
        return 0.1

    def choice(self, seq: list[str] | tuple[int, ...]) -> object:
        return seq[0]


@pytest.mark.parametrize(("nodes", "qdisk", "allowed"), [
    (["node1", "node2"], False, {"node1", "node2"}),  # a split: the fence race decides
    (["node1", "node2"], True, {"node1", "node2"}),  # the disk's master decides
    (["node1", "node2", "node3"], False, {"node1"}),  # only the lossy node is alone
])
def test_heavy_loss_on_every_ring_may_fence(nodes: list[str], qdisk: bool,
                                            allowed: set[str]) -> None:
    class Lossy(FakeCell):
        def loss(self, *_: object) -> None: ...

    ctx = FaultContext(cast(Cell, Lossy(nodes)), cast(random.Random, Rng()),
                       PROFILES["default"], {"data": "node1"}, qdisk=qdisk)
    assert loss(ctx).may_fence == frozenset(allowed)


def test_a_healthy_node_fenced_fails_the_campaign() -> None:
    result = CampaignResult(Options(faults=1, seed=1))
    record = FaultRecord(1, 2, "loss", "20% on 1 ring(s)", "d", [], 10.0)
    result.faults.append(record)
    assert result.failures() == []
    record.healthy_fenced.append("node2 fenced, though loss (v) may fence nobody")
    assert result.failures() == ["fault 1 (loss, 20% on 1 ring(s)): node2 fenced, though "
                                 "loss (v) may fence nobody"]
    result.daemon_deaths.append("tandemd of node1 had died")
    assert len(result.failures()) == 2
