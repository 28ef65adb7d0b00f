"""The short reliability campaign that CI runs (bench/campaign.py --faults 20 --seed 1):
every fault kind on a 2-node, a 3-node and a 2-node quorum-disk cell, with no violation of
the safety checks; and proof that those checks do catch a service held twice and an
acknowledged record that went missing."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from chaos.campaign import Options, run_campaign  # noqa: E402
from chaos.cell import Cell  # noqa: E402
from chaos.cells import DATA, PROFILES, RECORD_DIR, campaign_cell  # noqa: E402
from chaos.faults import KINDS, Deck  # noqa: E402
from chaos.holders import HolderSpec, HolderWatch  # noqa: E402
from chaos.labs import PREFIX, chaos_lab  # noqa: E402
from chaos.records import RecordClient  # noqa: E402
from labkit import host_links, wait_for  # noqa: E402
from tandem.lab.names import existing_labs  # noqa: E402

pytestmark = pytest.mark.lab


def _my_labs() -> list[str]:
    return [lab for lab in existing_labs()
            if lab.startswith(PREFIX) and lab.endswith(f"-{os.getpid()}")]


def test_deck_keeps_quorum_disk_faults_for_a_cell_with_a_disk() -> None:
    deck = Deck(random.Random(3))
    plain = [deck.draw().name for _ in range(100)]  # many rounds without a quorum disk
    assert "qdisk-loss" not in plain and set(plain) == {k.name for k in KINDS} - {"qdisk-loss"}
    assert "qdisk-loss" in {deck.draw(qdisk=True).name for _ in range(3)}


@pytest.mark.timeout(1800)
def test_short_campaign_has_no_violation() -> None:
    links = host_links()
    lines: list[str] = []
    result = run_campaign(Options(faults=20, seed=1, sizes=(2, 3), say=lines.append))
    assert result.all_violations() == [], "\n".join([*result.all_violations(), *lines])
    assert len(result.faults) == 20
    drawn = {f.kind for f in result.faults}
    assert drawn == {k.name for k in KINDS}, drawn
    assert {(f.nodes, f.qdisk) for f in result.faults} == {(2, False), (3, False), (2, True)}
    assert all(f.qdisk for f in result.faults if f.kind == "qdisk-loss")
    assert all(f.recovery_s is not None for f in result.faults)
    assert any(f.disrupted for f in result.faults)
    assert result.acked > 100 and result.verifications >= 20
    assert _my_labs() == [] and host_links() == links


@pytest.mark.timeout(300)
def test_checks_catch_a_double_holder_and_a_lost_record() -> None:
    say: list[str] = []
    with chaos_lab("chk", campaign_cell("chaos", 2, PROFILES["default"]), say.append) as lab:
        cell = Cell(lab)
        cell.wait_whole(60)
        owner = next(r["owner"] for r in (cell.status("node1") or {})["services"]
                     if r["name"] == DATA)
        other = next(n for n in cell.nodes if n != owner)
        with HolderWatch(lab, [HolderSpec(DATA, process_mark="recordd.py")]) as holders, \
                RecordClient(lab) as client:
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
    assert {o.service for o in holders.snapshot()} == {DATA}
    assert _my_labs() == []
