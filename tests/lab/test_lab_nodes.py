"""A lab cell behaves like separate machines: isolation, power, faults, cleanup."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from labkit import sh
from tandem.lab.faults import NetworkFaults
from tandem.lab.names import LabNames
from tandem.lab.nodes import NodeControl
from tandem.lab.proc import LabError, netns_inode, pids_in_netns
from tandem.lab.sampler import LabSampler
from tandem.lab.state import LabRecord
from tandem.lab.status import lab_status

pytestmark = pytest.mark.lab


def ping(control: NodeControl, src: str, address: str) -> bool:
    argv = control.exec_argv(src, ["ping", "-c", "1", "-W", "1", address])
    return subprocess.run(argv, capture_output=True, timeout=10).returncode == 0


def reaches(control: NodeControl, src: str, address: str) -> bool:
    """Answers within 3 tries: a link just brought back up may lose the first packet
    while the neighbour entry is resolved again."""
    return any(ping(control, src, address) for _ in range(3))


def test_nodes_are_isolated(lab: LabRecord) -> None:
    control = NodeControl(lab)
    assert sh(control, "node1", "hostname").strip() == "node1"
    assert sh(control, "node2", "hostname").strip() == "node2"
    # Each node sees its own addresses on the interface names the config gives.
    assert "198.51.100.11/24" in sh(control, "node1", "ip -o addr show eth0")
    assert "203.0.113.12/24" in sh(control, "node2", "ip -o addr show eth1")
    assert "198.51.100.12" not in sh(control, "node1", "ip -o addr")
    # No lab address ever appears in the host namespace.
    host = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    assert "198.51.100." not in host and "203.0.113." not in host
    # A mount made in node1 is invisible in node2 and in the host.
    sh(control, "node1", "mkdir -p /mnt/iso && mount /dev/tandem/shared /mnt/iso && "
                         "touch /mnt/iso/from-node1")
    try:
        assert "from-node1" in sh(control, "node1", "ls /mnt/iso")
        assert "from-node1" not in sh(control, "node2", "ls /mnt/iso || true")
        assert "/mnt/iso" not in Path("/proc/self/mountinfo").read_text()
    finally:
        sh(control, "node1", "umount /mnt/iso")
        Path("/mnt/iso").rmdir()
    # Private directories: a file written in node1's /etc/HA is not in node2's.
    sh(control, "node1", "echo one > /etc/HA/marker")
    assert sh(control, "node2", "cat /etc/HA/marker 2>/dev/null || echo none").strip() == "none"
    assert not Path("/etc/HA/marker").exists()
    # The networks connect the nodes (both rings) and the client.
    assert ping(control, "node1", "198.51.100.12")
    assert ping(control, "node1", "203.0.113.12")
    assert ping(control, "client", "198.51.100.11")


def test_crash_kills_everything_and_power_on_boots(lab: LabRecord) -> None:
    control = NodeControl(lab)
    names = LabNames(lab.name)
    sh(control, "node1", "mkdir -p /mnt/c && mount /dev/tandem/shared /mnt/c && "
                         "ip addr add 198.51.100.77/24 dev eth0 && (sleep 1000 >/dev/null 2>&1 &)")
    home = os.readlink("/proc/thread-self/ns/net")
    with LabSampler(lab, control.config) as sampler:
        assert [m.disk for m in sampler.mounts()["node1"]] == ["shared"]
        control.crash("node1")
        # the power-off's netlink socket was made inside node1: this thread came home
        assert os.readlink("/proc/thread-self/ns/net") == home
        inode = netns_inode(names.node_ns("node1"))
        assert inode is not None and pids_in_netns(inode) == []
        assert sampler.mounts()["node1"] == []  # the mount went with the node
        assert all(a != "198.51.100.77" for _, a, _ in sampler.addresses()["node1"])
    assert control.power("node1").power == "off"
    assert control.power("node1").condition == "crashed"
    assert not ping(control, "client", "198.51.100.11")
    with pytest.raises(LabError, match="powered off"):
        control.exec_argv("node1", ["true"])
    assert control.power_on("node1") is True
    assert control.power_on("node1") is False  # already on
    assert ping(control, "client", "198.51.100.11")
    assert "/mnt/c" not in sh(control, "node1", "cat /proc/self/mountinfo")
    Path("/mnt/c").rmdir()


def test_hang_and_resume(lab: LabRecord) -> None:
    control = NodeControl(lab)
    inode = netns_inode(LabNames(lab.name).node_ns("node2"))
    assert inode is not None
    control.hang("node2")
    states = {Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
              for pid in pids_in_netns(inode)}
    assert states == {"T"}
    assert control.power("node2").condition == "hung"
    control.resume("node2")
    states = {Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
              for pid in pids_in_netns(inode)}
    assert "T" not in states
    assert control.power("node2").condition == "running"


def test_cut_heal_and_loss(lab: LabRecord) -> None:
    control = NodeControl(lab)
    faults = NetworkFaults(lab, control.config)
    faults.cut("node2", "admin")
    assert not ping(control, "node1", "198.51.100.12")
    assert reaches(control, "node1", "203.0.113.12")  # the other ring still works
    assert control.power("node2").cut == ["admin"]
    faults.heal("node2", "admin")
    assert reaches(control, "node1", "198.51.100.12")
    assert control.power("node2").cut == []
    assert faults.netem("node2", "admin", loss_pct=100.0) in ("nftables", "tc netem")
    assert not ping(control, "node1", "198.51.100.12")
    assert faults.netem("node2", "admin") == "cleared"
    assert reaches(control, "node1", "198.51.100.12")
    with pytest.raises(LabError, match="no interface on network"):
        faults.cut("node1", "storage")
    with pytest.raises(LabError, match="unknown node"):
        faults.cut("node9", "admin")


def test_status_reports_the_lab(lab: LabRecord) -> None:
    control = NodeControl(lab)
    sh(control, "node2", "mkdir -p /mnt/st && mount /dev/tandem/shared /mnt/st")
    try:
        status = lab_status(lab, control.config)
    finally:
        sh(control, "node2", "umount /mnt/st")
        Path("/mnt/st").rmdir()
    assert status["name"] == lab.name
    by_name = {n["name"]: n for n in status["nodes"]}
    assert by_name["node1"]["addresses"] == {"admin": "198.51.100.11/24",
                                             "backbone": "203.0.113.11/24"}
    assert by_name["node1"]["bmc"]["address"] == "198.51.100.101"
    assert by_name["node2"]["mounts"] == [{"disk": "shared", "mountpoint": "/mnt/st"}]
    assert by_name["node1"]["mounts"] == []
    assert status["disks"][0]["name"] == "shared"
    assert status["disks"][0]["path"] == "/dev/tandem/shared"
