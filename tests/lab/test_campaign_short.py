"""The short reliability campaign that CI runs (bench/campaign.py --faults 20 --seed 1):
every fault kind on a 2-node, a 3-node and a 2-node quorum-disk cell; and proof that the
campaign's checks do catch a service held twice and an acknowledged record that went
missing.

The campaign fails on:
- a violation: a double mount, an address on two nodes or a service held by two nodes
  (the watches), a fence started by an inquorate node, an acknowledged record missing
  from the disk, a service not back within its budget, a cell that cannot be made
  whole again, or a watch that failed too many of its samples (it proved nothing);
- a healthy node fenced: a fence carried out (or a BMC power-off) against a node the
  fault did not allow to be fenced. A fault allows its victim when it takes the victim
  away (crash, hang until fenced, power cycle, isolation, a failing stop, a dead BMC
  with a dead node), and either node where it splits a two-node cell so that the
  engine cannot tell the healthy side (every ring cut, or heavy loss on every ring:
  without a quorum disk a fence race decides, with one the side that holds the disk's
  master, which the isolated node may be until its heuristic fails; a hang that ends
  while the fence is under way);
- a daemon that died under a powered node: its services would run unwatched, never
  stopped on a quorum loss.

It tolerates, and reports as "unexpected", what costs availability but not safety:
- a service moved or restarted that the fault did not call for (a monitor that failed
  under packet loss, a survivor briefly inquorate while the quorum disk's master role
  moves); the holder watch proves it never ran in two places;
- several fence operations against one node in one fault (a device that failed or
  timed out is tried again; powering off a node that is off changes nothing);
- a node fenced again right after the harness powered it back on (an anomaly).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time

import pytest

from benchlib.labs import PREFIX, built_lab
from chaos.campaign import Options, run_campaign
from chaos.cell import Cell
from chaos.cells import DATA, PROFILES, RECORD_DIR, campaign_cell
from chaos.faults import KINDS, Deck
from chaos.records import RecordClient
from labkit import host_links, wait_for
from tandem.lab.holders import HolderSpec
from tandem.lab.names import existing_labs
from tandem.lab.watch import HolderWatch

pytestmark = pytest.mark.lab


def _my_labs() -> list[str]:
    return [lab for lab in existing_labs()
            if lab.startswith(PREFIX) and lab.endswith(f"-{os.getpid()}")]


def test_deck_keeps_quorum_disk_faults_for_a_cell_with_a_disk() -> None:
    deck = Deck(random.Random(3))
    plain = [deck.draw().name for _ in range(100)]  # many rounds without a quorum disk
    assert "qdisk-loss" not in plain and set(plain) == {k.name for k in KINDS} - {"qdisk-loss"}
    assert "qdisk-loss" in {deck.draw(qdisk=True).name for _ in range(3)}


def test_deck_lasts_a_long_campaign_of_cells_without_a_disk() -> None:
    """1,000 draws for cells without a quorum disk, then the disk's cell gets the
    qdisk-loss rounds kept for it (the deck used to give up after ~290 draws: the kept
    cards were moved one by one under a bounded loop)."""
    deck = Deck(random.Random(7))
    plain = [deck.draw().name for _ in range(1000)]
    assert "qdisk-loss" not in plain
    assert [deck.draw(qdisk=True).name for _ in range(5)] == ["qdisk-loss"] * 5


@pytest.mark.timeout(1800)
def test_short_campaign_has_no_violation() -> None:
    links = host_links()
    lines: list[str] = []
    result = run_campaign(Options(faults=20, seed=1, sizes=(2, 3), say=lines.append))
    failures = result.failures()
    assert failures == [], "\n".join([*failures, *result.anomalies, *lines])
    assert len(result.faults) == 20
    drawn = {f.kind for f in result.faults}
    assert drawn == {k.name for k in KINDS}, drawn
    assert {(f.nodes, f.qdisk) for f in result.faults} == {(2, False), (3, False), (2, True)}
    assert all(f.qdisk for f in result.faults if f.kind == "qdisk-loss")
    assert all(f.recovery_s is not None for f in result.faults)
    assert any(f.disrupted for f in result.faults)
    assert result.acked > 100 and result.verifications >= 20
    assert len(result.watches) == 6, result.watches  # two watches in each of three cells
    assert _my_labs() == [] and host_links() == links


@pytest.mark.timeout(300)
def test_checks_catch_a_double_holder_and_a_lost_record() -> None:
    say: list[str] = []
    text = campaign_cell("chaos", 2, PROFILES["default"])
    with built_lab("chk", text, say=say.append) as lab:
        cell = Cell(lab)
        cell.wait_whole(60)
        status = cell.status("node1")
        row = status.service(DATA) if status else None
        assert row is not None and row.owner, "the data service does not run"
        owner = row.owner
        other = next(n for n in cell.nodes if n != owner)
        specs = [HolderSpec(DATA, process_mark="recordd.py")]
        with HolderWatch(lab.record.name, specs) as holders, RecordClient(lab) as client:
            wait_for(lambda: len(client.acked()) >= 20, 30, "20 acknowledged records")
            assert client.verify().ok
            assert holders.snapshot() == []
            # An impostor "record server" in the other node: the holder watch must see
            # the service held twice.
            impostor = subprocess.Popen(lab.control.exec_argv(other, [
                sys.executable, "-c", "import time; time.sleep(3)", "recordd.py"]))
            try:
                wait_for(holders.snapshot, 10, "the holder watch to see two holders")
            finally:
                impostor.wait(timeout=10)
            # An acknowledged record removed from the disk: the read-back must miss it.
            victim = min(client.acked())
            done = cell.run(owner, ["sed", "-i", f"/^{victim}$/d", f"{RECORD_DIR}/records.log"])
            assert done.returncode == 0, done.stderr
            time.sleep(0.2)
            check = client.verify()
            assert victim in check.missing and not check.error
    assert {v.subject for v in holders.snapshot()} == {DATA}
    assert holders.health() is None, holders.summary()
    assert _my_labs() == []
