"""The quorum disk in a lab cell: a runner in each node on the shared raw loop device
(`/dev/tandem/qd`), one master, a crashed master replaced after tko, a node whose
heuristic (a ping of the client, our "gateway") fails losing its score and the
mastership, and a node whose device path vanishes reporting the disk unavailable
without hanging. Throughout, the disk itself never shows two fresh master slots."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labkit import cell_config, running_lab, unique_lab_name, wait_for
from tandem.lab.faults import NetworkFaults
from tandem.lab.nodes import NodeControl
from tandem.lab.proc import LabError

pytestmark = pytest.mark.lab

DEVICE = "/dev/tandem/qd"
STATUS = "/run/tandem/qdisk.json"
LABEL = "lab-qd"
INTERVAL_MS = 200
TKO = 5  # dead on disk after 1 s
GATEWAY = "198.51.100.250"  # the lab client, on the admin network
NODES = ("node1", "node2")


class QdiskLab:
    """A two-node lab cell with a raw shared disk, and runners started in its nodes."""

    def __init__(self, control: NodeControl, faults: NetworkFaults, logs: Path) -> None:
        self.control = control
        self.faults = faults
        self.logs = logs
        self.runners: dict[str, subprocess.Popen[bytes]] = {}

    def qdisk(self, node: str, *args: str, timeout: float = 30) -> \
            subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "tandem.cli.qdisk_cmd", *args]
        return subprocess.run(self.control.exec_argv(node, argv), capture_output=True,
                              text=True, timeout=timeout)

    def start(self, node: str, *extra: str) -> None:
        node_id = self.control.node(node).id
        argv = [sys.executable, "-m", "tandem.cli.qdisk_cmd", "run", "--device", DEVICE,
                "--node-id", str(node_id), "--name", node, "--label", LABEL,
                "--interval-ms", str(INTERVAL_MS), "--tko", str(TKO),
                "--status-file", STATUS, "--duration", "600", *extra]
        with open(self.logs / f"{node}-qdisk.log", "ab") as log:
            self.runners[node] = subprocess.Popen(self.control.exec_argv(node, argv),
                                                  stdout=log, stderr=subprocess.STDOUT)

    def stop_all(self) -> None:
        for proc in self.runners.values():
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.runners.clear()

    def view(self, node: str) -> dict[str, Any] | None:
        """The runner's latest view in `node` (None if unreadable or the node is off)."""
        try:
            done = subprocess.run(self.control.exec_argv(node, ["cat", STATUS]),
                                  capture_output=True, text=True, timeout=10)
        except (LabError, subprocess.TimeoutExpired):
            return None
        try:
            data: dict[str, Any] = json.loads(done.stdout) if done.returncode == 0 else {}
        except ValueError:
            return None
        return data or None

    def disk_report(self, node: str) -> dict[str, Any]:
        """`tandem qdisk status --json` inside `node`; the disk never shows two masters."""
        done = self.qdisk(node, "status", DEVICE, "--json")
        assert done.returncode == 0, done.stderr
        report: dict[str, Any] = json.loads(done.stdout)
        assert len(report["masters"]) <= 1, f"two fresh master slots: {report['masters']}"
        return report

    def agreed_master(self, nodes: tuple[str, ...] = NODES) -> int | None:
        views = [self.view(n) for n in nodes]
        self.disk_report(nodes[0])
        masters = {v.get("master") if v and v.get("available") else None for v in views}
        return masters.pop() if len(masters) == 1 else None

    def wait_master(self, nodes: tuple[str, ...] = NODES, what: str = "") -> int:
        master = wait_for(lambda: self.agreed_master(nodes), 60,
                          what or f"{', '.join(nodes)} to agree on a master")
        return int(master)

    def node_name(self, node_id: int) -> str:
        return next(n.name for n in self.control.config.nodes if n.id == node_id)


@pytest.fixture(scope="module")
def lab_cell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QdiskLab]:
    name = unique_lab_name("qdisk")
    text = cell_config(name, rings=1, bmc=False,
                       disks='[ { name = "qd", size = "16M", format = "none" } ]')
    tmp = tmp_path_factory.mktemp("qdisk")
    with running_lab(tmp, text, name) as record:
        control = NodeControl(record)
        yield QdiskLab(control, NetworkFaults(record, control.config), tmp)


@pytest.fixture()
def qlab(lab_cell: QdiskLab) -> Iterator[QdiskLab]:
    """Both nodes on, a freshly initialised disk; runners stopped afterwards."""
    for node in NODES:
        lab_cell.control.power_on(node)
    done = lab_cell.qdisk("node1", "init", DEVICE, "--label", LABEL, "--cell",
                          lab_cell.control.config.name, "--nodes", "4", "--force")
    assert done.returncode == 0, done.stderr
    try:
        yield lab_cell
    finally:
        lab_cell.stop_all()


def test_two_nodes_agree_and_a_crashed_master_is_replaced(qlab: QdiskLab) -> None:
    for node in NODES:
        qlab.start(node)
    master = qlab.wait_master()
    survivor = next(n for n in NODES if qlab.control.node(n).id != master)
    views = {n: qlab.view(n) for n in NODES}
    assert all(v and v["alive_on_disk"] == [1, 2] and v["votes"] == 1
               for v in views.values()), views
    assert [n for n, v in views.items() if v and v["i_am_master"]] == \
        [qlab.node_name(master)]
    report = wait_for(lambda: (r := qlab.disk_report(survivor))["master"] == master and r,
                      30, "the disk to show the master")
    assert {s["name"] for s in report["slots"]} == set(NODES)
    assert report["label"] == LABEL and report["cell"] == qlab.control.config.name

    qlab.control.crash(qlab.node_name(master))  # power loss: the runner dies with it
    wait_for(lambda: (v := qlab.view(survivor)) and v["i_am_master"], 60,
             f"{survivor} to take over")
    view = qlab.view(survivor)
    assert view is not None
    assert view["alive_on_disk"] == [qlab.control.node(survivor).id]
    assert view["nodes"][str(master)]["alive"] is False
    report = qlab.disk_report(survivor)
    dead = next(s for s in report["slots"] if s["node_id"] == master)
    assert dead["state"] == "running" and dead["fresh"] is False  # silent, not stopped


def test_a_node_whose_heuristic_fails_loses_its_score(qlab: QdiskLab) -> None:
    ping = f"ping -c 1 -W 1 {GATEWAY}"
    extra = ("--heuristic", ping, "--heuristic-interval-ms", "300",
             "--heuristic-timeout-ms", "2500")
    for node in NODES:
        qlab.start(node, *extra)
    wait_for(lambda: all((v := qlab.view(n)) and v["score_ok"] for n in NODES), 60,
             "both nodes passing their heuristic")
    master = qlab.wait_master()
    loser = qlab.node_name(master)
    other = next(n for n in NODES if n != loser)
    qlab.faults.cut(loser, "admin")  # the master loses its way to the gateway
    try:
        wait_for(lambda: (v := qlab.view(loser)) and not v["score_ok"], 60,
                 f"{loser} to lose its score")
        lost = qlab.view(loser)
        assert lost is not None and lost["my_score"] == 0 and lost["max_score"] == 1
        assert lost["available"] and not lost["i_am_master"]
        wait_for(lambda: (v := qlab.view(other)) and v["i_am_master"], 60,
                 f"{other} to take over")
        wait_for(lambda: (v := qlab.view(other)) and
                 v["nodes"][str(master)]["score_ok"] is False, 30,
                 f"{other} to see {loser}'s failing score on disk")
        assert qlab.wait_master() == qlab.control.node(other).id
    finally:
        qlab.faults.heal(loser, "admin")
    wait_for(lambda: (v := qlab.view(loser)) and v["score_ok"], 60, f"{loser} healthy")
    assert qlab.wait_master() == qlab.control.node(other).id  # no failback


def test_a_vanished_device_path_makes_the_disk_unavailable_without_hanging(
        qlab: QdiskLab) -> None:
    for node in NODES:
        qlab.start(node)
    master = qlab.wait_master()
    victim = qlab.node_name(master)
    other = next(n for n in NODES if n != victim)
    disk = next(d for d in qlab.control.record.disks if d.name == "qd")
    removed = subprocess.run(qlab.control.exec_argv(victim, ["rm", DEVICE]), timeout=30)
    assert removed.returncode == 0
    try:
        wait_for(lambda: (v := qlab.view(victim)) and not v["available"], 60,
                 f"{victim} to report the disk unavailable")
        lost = qlab.view(victim)
        assert lost is not None
        assert "cannot open" in lost["error"] and "No such file" in lost["error"]
        assert not lost["i_am_master"] and lost["votes"] == 0 and lost["master"] is None
        # The runner keeps cycling (its status keeps being rewritten): it is not stuck.
        written = lost["time"]
        wait_for(lambda: (v := qlab.view(victim)) and v["time"] > written, 30,
                 f"{victim}'s runner to keep going")
        status = qlab.qdisk(victim, "status", DEVICE)
        assert status.returncode == 1 and status.stderr.count("\n") == 1
        assert "No such file" in status.stderr
        wait_for(lambda: (v := qlab.view(other)) and v["i_am_master"], 60,
                 f"{other} to take over from {victim}, dead on disk")
    finally:
        subprocess.run(qlab.control.exec_argv(victim, [
            "mknod", "-m", "0660", DEVICE, "b", str(disk.major), str(disk.minor)]),
            timeout=30, check=False)
    wait_for(lambda: (v := qlab.view(victim)) and v["available"] and
             v["master"] == qlab.control.node(other).id, 60,
             f"{victim} back on the disk, following {other}")
    assert qlab.disk_report(victim)["master"] == qlab.control.node(other).id
