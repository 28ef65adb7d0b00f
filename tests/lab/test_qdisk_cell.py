"""Issue 6 in lab cells: a two-node cell with a quorum disk (two_node off, 3 expected
votes). The heartbeat networks fail, the heuristics fail, the disk goes away on one node
or on both, a node crashes — with the split-brain watch and a one-owner check all along.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import jsonschema
import pytest

from enginekit import Cell, dummy_holders, fence_starts, running_cell, service, started_on
from labkit import wait_for
from tandem.common.status import schema

pytestmark = pytest.mark.lab

QDISK = """
[qdisk]
device = "/dev/tandem/qd"
label = "lab-qdisk"
interval_ms = 200
tko = 5
votes = 1
[[qdisk.heuristics]]
command = ["ping", "-c", "1", "-W", "1", "198.51.100.250"]
score = 1
interval_ms = 300
timeout_ms = 300
tko = 2
"""

DISKS = ('[ { name = "shared", size = "64M", format = "ext4" }, '
         '{ name = "qd", size = "16M", format = "none" } ]')
TIMING = "heartbeat_ms = 100\ntoken_ms = 1500\nfence_check_s = 2\n"


def web(first: str, delay_ms: int = 0) -> str:
    second = "node1" if first == "node2" else "node2"
    return f"""
[[services]]
name = "web"
domain = {{ nodes = ["{first}", "{second}"], restricted = true }}
[[services.resources]]
name = "web-daemon"
agent = "dummy"
monitor_interval_s = 1
params = {{ delay_ms = {delay_ms} }}
"""


@contextmanager
def qdisk_cell(tmp_path: Path, stem: str, first: str = "node1",
               delay_ms: int = 0) -> Iterator[Cell]:
    with running_cell(tmp_path, stem, dummy_holders("web"), fencing=True, disks=DISKS,
                      timing=TIMING, extra=QDISK + web(first, delay_ms)) as cell:
        wait_for(lambda: started_on(cell, "node1", first), 30, f"web on {first}")
        wait_for(lambda: (s := cell.status("node2")) and s["qdisk"]["master"] == "node1"
                 and s["qdisk"]["online"], 20, "node1 to be the quorum disk master")
        yield cell


def rm_disk(cell: Cell, node: str) -> None:
    subprocess.run(cell.control.exec_argv(node, ["rm", "-f", "/dev/tandem/qd"]), check=True)


def test_status_shows_the_quorum_disk(tmp_path: Path) -> None:
    with qdisk_cell(tmp_path, "qds") as cell:
        status = cell.status("node1")
        assert status is not None and status["quorum"]["expected"] == 3
        jsonschema.validate(status, schema())  # a real daemon's status fits the contract
        qdisk = status["qdisk"]
        assert {"device", "master", "votes", "nodes"} <= set(qdisk)
        assert qdisk["votes"] == 1 and qdisk["device"] == "/dev/tandem/qd"
        assert {(n["name"], n["alive"]) for n in qdisk["nodes"]} == {("node1", True),
                                                                    ("node2", True)}
        shown = subprocess.run(cell.control.exec_argv("node1", ["clustat"]),
                               capture_output=True, text=True, check=True).stdout
        assert "Quorum Disk" in shown


def test_heartbeat_cut_no_race_master_side_wins(tmp_path: Path) -> None:
    """node2 loses the heartbeats and the disk's master: it stops web and never shoots;
    node1 waits for that stop before fencing it. node2's heuristic (a ping through the
    cut cable) often fails before the token runs out, so without a slow stop node2 could
    be done before node1 even loses it: web takes 2 s to start and to stop here, so that
    node1 always finds node2 still stopping, as a real service would be."""
    with qdisk_cell(tmp_path, "qdcut", first="node2", delay_ms=2000) as cell:
        cell.cut_rings("node2")
        cell.wait_state("node1", "node2", {"fenced"}, timeout=30)
        wait_for(lambda: started_on(cell, "node1", "node1"), 30, "web on node1")
        assert cell.power("node1") == "on"
        node1, node2 = cell.events_file("node1"), cell.events_file("node2")
        assert fence_starts(node2) == []  # no race: the inquorate side never shoots
        stopped = [e["ts_ms"] for e in node2 if e["kind"] == "local_service"
                   and e["detail"].endswith("-> stopped")]
        assert stopped, "node2 should have stopped web when it lost quorum"
        # node1 saw node2 alive on the disk, still holding web: it waited for the stop.
        assert any(e["kind"] == "fence_deferred" and e["node"] == "node2" for e in node1)
        fenced_at = [e["ts_ms"] for e in node1
                     if e["kind"] == "fence_start" and e["node"] == "node2"]
        assert fenced_at and stopped[0] <= fenced_at[0], "node2 was fenced before it stopped"


def test_failing_heuristics_give_up_and_get_fenced(tmp_path: Path) -> None:
    with qdisk_cell(tmp_path, "qdheu") as cell:
        cell.faults.cut("node1", "admin")  # its client-side network: ping fails
        cell.wait_state("node2", "node1", {"fenced"}, timeout=30)
        wait_for(lambda: started_on(cell, "node2", "node2"), 30, "web on node2")
        assert cell.power("node2") == "on"


def test_disk_lost_by_one_node(tmp_path: Path) -> None:
    with qdisk_cell(tmp_path, "qdone") as cell:
        rm_disk(cell, "node2")
        wait_for(lambda: (s := cell.status("node2")) and not s["qdisk"]["online"], 20,
                 "node2 to report its disk gone")
        time.sleep(2)
        assert service(cell, "node2")["owner"] == "node1"  # nothing moved
        assert fence_starts(cell.events_file("node1")) == []
        cell.cut_rings("node2")  # now alone without the disk: not quorate
        cell.wait_state("node1", "node2", {"fenced"}, timeout=30)
        assert cell.power("node1") == "on"
        # node2 must not act as quorate: it never fences. (Whether it records its loss
        # of quorum before node1's fence lands is a race of a few ms: node1 fences as
        # soon as its own token expires, node2 is dead on disk already.)
        assert fence_starts(cell.events_file("node2")) == []


def test_disk_lost_by_both_nothing_moves(tmp_path: Path) -> None:
    with qdisk_cell(tmp_path, "qdboth") as cell:
        rm_disk(cell, "node1")
        rm_disk(cell, "node2")
        wait_for(lambda: all((s := cell.status(n)) and not s["qdisk"]["online"]
                             for n in cell.nodes), 20, "both nodes to lose the disk")
        time.sleep(2)
        for node in cell.nodes:
            status = cell.status(node)
            assert status is not None and status["quorate"]
        assert service(cell, "node1")["owner"] == "node1"
        assert fence_starts(cell.events_file("node1")) == []
        assert fence_starts(cell.events_file("node2")) == []


def test_crash_with_a_quorum_disk(tmp_path: Path) -> None:
    with qdisk_cell(tmp_path, "qdcrash") as cell:
        cell.control.crash("node1")
        cell.wait_state("node2", "node1", {"fenced"}, timeout=30)
        wait_for(lambda: started_on(cell, "node2", "node2"), 30, "web on node2")
        wait_for(lambda: (s := cell.status("node2")) and s["qdisk"]["master"] == "node2",
                 20, "node2 to become the disk master")
