"""Engine II in lab cells: placement, takeover after fencing, restarts and relocation,
failed stops, operator requests, failback and freeze — with the split-brain watch on and
the holder watch checking, all along, that no service is ever started on two nodes
(tests/lab/test_lab_watch.py proves it sees a service held twice)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import pytest

from enginekit import (
    Cell,
    dummy_holders,
    dummy_service,
    fence_starts,
    running_cell,
    service,
    started_on,
)
from labkit import node_events, tandem_in, wait_for
from tandem.lab.watch import HolderWatch

pytestmark = pytest.mark.lab


@contextmanager
def service_cell(tmp_path: Path, stem: str, services: str, nodes: int = 2,
                 names: tuple[str, ...] = ("web",)) -> Iterator[tuple[Cell, HolderWatch]]:
    """A cell running `services`, each started, with the holder watch on their
    `NAME-daemon` resources (a service started on two nodes at once fails the test)."""
    with running_cell(tmp_path, stem, dummy_holders(*names), nodes=nodes, fencing=True,
                      extra=services) as cell:
        for name in names:
            wait_for(partial(started_on, cell, "node1", None, name), 20, f"{name} to start")
        yield cell, cell.holders


def holding(owners: HolderWatch, name: str = "web") -> list[str]:
    """Nodes that hold service `name` now, as the holder watch sees them."""
    return owners.holders()[name]


@pytest.mark.parametrize("fault", ["crash", "hang"])
def test_takeover_after_fencing(tmp_path: Path, fault: str) -> None:
    with service_cell(tmp_path, f"t{fault}", dummy_service()) as (cell, owners):
        assert holding(owners) == ["node1"]
        getattr(cell.control, fault)("node1")
        wait_for(lambda: started_on(cell, "node2", "node2"), 30, "web to start on node2")
        assert cell.power("node1") == "off"  # fenced before the takeover
        events = node_events(cell.control, "node2")
        fenced_at = next(e["ts_ms"] for e in events if e["kind"] == "fence_done")
        started_at = next(e["ts_ms"] for e in events if e["kind"] == "service_started"
                          and e["node"] == "node2")
        assert started_at >= fenced_at


def test_monitor_failure_restarts_then_relocates(tmp_path: Path) -> None:
    with service_cell(tmp_path, "mon", dummy_service(max_restarts=2)) as (cell, _):
        subprocess.run(cell.control.exec_argv("node1", ["touch", "/run/tandem/fail-web"]),
                       check=True)
        wait_for(lambda: started_on(cell, "node1", "node2"), 30,
                 "web to be relocated after its restarts")
        restarts = [e for e in node_events(cell.control, "node1")
                    if e["kind"] == "local_service" and e["detail"].startswith("failed ->")]
        assert len(restarts) == 2  # restarted twice in place, then moved
        assert service(cell, "node2")["last_owner"] == "node1"


def test_failed_stop_fences_before_the_peer_starts(tmp_path: Path) -> None:
    with service_cell(tmp_path, "stuck", dummy_service(recovery="relocate")) as (cell, _):
        subprocess.run(cell.control.exec_argv("node1", [
            "sh", "-c", "touch /run/tandem/stuck-web /run/tandem/fail-web"]), check=True)
        wait_for(lambda: started_on(cell, "node2", "node2"), 30, "web to move to node2")
        assert cell.power("node1") == "off"
        events = node_events(cell.control, "node2")
        fenced = next(e["ts_ms"] for e in events if e["kind"] == "fence_done")
        started = next(e["ts_ms"] for e in events if e["kind"] == "service_started")
        assert started >= fenced


def test_relocation_and_back(tmp_path: Path) -> None:
    with service_cell(tmp_path, "reloc", dummy_service()) as (cell, _):
        out = tandem_in(cell.control, "node2", "svc", "relocate", "web", "--node", "node2")
        assert out.returncode == 0, out.stderr
        assert started_on(cell, "node1", "node2")
        back = cell.control.exec_argv("node1", ["clusvcadm", "-r", "web", "-m", "node1"])
        done = subprocess.run(back, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert started_on(cell, "node2", "node1")
        assert fence_starts(node_events(cell.control, "node1")) == []


@pytest.mark.parametrize("failback", [False, True])
def test_failback(tmp_path: Path, failback: bool) -> None:
    with service_cell(tmp_path, f"fb{int(failback)}", dummy_service(failback=failback)) \
            as (cell, _):
        cell.control.crash("node1")
        wait_for(lambda: started_on(cell, "node2", "node2"), 30, "takeover by node2")
        cell.control.power_on("node1")
        cell.wait_state("node2", "node1", {"online"})
        if failback:
            wait_for(lambda: started_on(cell, "node2", "node1"), 30, "failback to node1")
        else:
            time.sleep(3)
            assert started_on(cell, "node1", "node2")


def test_freeze_stops_monitoring_and_recovery(tmp_path: Path) -> None:
    with service_cell(tmp_path, "frz", dummy_service()) as (cell, _):
        assert tandem_in(cell.control, "node1", "svc", "freeze", "web").returncode == 0
        subprocess.run(cell.control.exec_argv("node1", [
            "touch", "/run/tandem/fail-web"]), check=True)
        time.sleep(2.5)
        row = service(cell, "node2")
        assert row["state"] == "frozen" and row["owner"] == "node1"
        assert not any(e["kind"] == "monitor_failed" for e in node_events(cell.control,
                                                                          "node1"))
        assert tandem_in(cell.control, "node1", "svc", "unfreeze", "web").returncode == 0
        wait_for(lambda: any(e["kind"] == "monitor_failed"
                             for e in node_events(cell.control, "node1")), 10,
                 "monitoring to resume after unfreeze")


def test_disable_enable_and_bad_requests(tmp_path: Path) -> None:
    with service_cell(tmp_path, "dis", dummy_service()) as (cell, owners):
        assert tandem_in(cell.control, "node2", "svc", "disable", "web").returncode == 0
        assert service(cell, "node1")["state"] == "disabled" and holding(owners) == []
        enabled = tandem_in(cell.control, "node2", "svc", "enable", "web", "--node", "node2")
        assert enabled.returncode == 0, enabled.stderr
        assert started_on(cell, "node1", "node2")
        unknown = tandem_in(cell.control, "node1", "svc", "enable", "nope")
        assert unknown.returncode == 1 and "unknown service" in unknown.stderr
        outside = tandem_in(cell.control, "node1", "svc", "relocate", "web", "--node",
                            "node3")
        assert outside.returncode == 1 and "unknown node" in outside.stderr


def test_quorum_loss_in_three_node_cell(tmp_path: Path) -> None:
    services = dummy_service(domain='["node3", "node1", "node2"]')
    with service_cell(tmp_path, "q3s", services, nodes=3) as (cell, owners):
        wait_for(lambda: started_on(cell, "node1", "node3"), 20, "web on node3")
        cell.faults.cut("node3", None, bmc=True)  # keep node3 alive while isolated
        cell.cut_rings("node3")
        wait_for(lambda: holding(owners) == [], 15,
                 "the isolated node3 to stop web on quorum loss")
        cell.faults.heal("node3", None, bmc=True)
        wait_for(lambda: started_on(cell, "node1", "node1"), 40,
                 "web to restart on node1 after node3 is fenced")
        assert cell.power("node3") == "off"
