"""The lab's virtual BMCs answer Debian's real ipmitool over IPMI v2 (lanplus), and
their power commands do to a node what pulling and restoring its power would do."""

from __future__ import annotations

import subprocess

import pytest

from labkit import wait_for
from tandem.lab.names import LabNames
from tandem.lab.nodes import NodeControl
from tandem.lab.proc import is_alive, netns_inode, pids_in_netns
from tandem.lab.state import LabRecord

pytestmark = pytest.mark.lab


def ipmitool(control: NodeControl, node_index: int, *args: str,
             password: str | None = None) -> subprocess.CompletedProcess[str]:
    """Real ipmitool, run from the lab's client namespace against a node's BMC."""
    secret = password or f"lab-pass-{node_index}"
    argv = control.exec_argv("client", [
        "ipmitool", "-I", "lanplus", "-H", f"198.51.100.{100 + node_index}", "-U", "admin",
        "-P", secret, "-N", "1", "-R", "2", *args])
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def _wait_daemon(control: NodeControl, node: str, timeout: float = 10.0) -> int:
    def running() -> int | None:
        pid = control.power(node).daemon_pid
        return pid if pid and is_alive(pid) else None

    return wait_for(running, timeout, f"tandemd of {node} to run")


def test_power_status_off_on_with_real_ipmitool(lab_with_daemons: LabRecord) -> None:
    control = NodeControl(lab_with_daemons)
    old_daemon = _wait_daemon(control, "node1")
    status = ipmitool(control, 1, "chassis", "power", "status")
    assert status.returncode == 0, status.stderr
    assert "Chassis Power is on" in status.stdout

    off = ipmitool(control, 1, "chassis", "power", "off")
    assert off.returncode == 0, off.stderr
    inode = netns_inode(LabNames(lab_with_daemons.name).node_ns("node1"))
    assert inode is not None and pids_in_netns(inode) == []
    assert not is_alive(old_daemon)
    assert "Chassis Power is off" in ipmitool(control, 1, "chassis", "power", "status").stdout
    assert control.power("node1").condition == "off"
    # The other node is untouched.
    assert "Chassis Power is on" in ipmitool(control, 2, "chassis", "power", "status").stdout

    on = ipmitool(control, 1, "chassis", "power", "on")
    assert on.returncode == 0, on.stderr
    assert "Chassis Power is on" in ipmitool(control, 1, "chassis", "power", "status").stdout
    new_daemon = _wait_daemon(control, "node1")  # the node booted and started tandemd again
    assert new_daemon != old_daemon


def test_power_cycle_reboots(lab_with_daemons: LabRecord) -> None:
    control = NodeControl(lab_with_daemons)
    before = control.power("node2").init_pid
    cycle = ipmitool(control, 2, "chassis", "power", "cycle")
    assert cycle.returncode == 0, cycle.stderr
    after = control.power("node2")
    assert after.power == "on" and after.init_pid != before
    assert not is_alive(before)


def test_wrong_password_is_refused(lab_with_daemons: LabRecord) -> None:
    control = NodeControl(lab_with_daemons)
    result = ipmitool(control, 1, "chassis", "power", "off", password="wrong")
    assert result.returncode != 0
    assert control.power("node1").power == "on"


def test_crash_reads_off_at_the_bmc(lab_with_daemons: LabRecord) -> None:
    control = NodeControl(lab_with_daemons)
    control.crash("node2")
    assert "Chassis Power is off" in ipmitool(control, 2, "chassis", "power", "status").stdout


def test_hung_node_reads_on_and_can_be_powered_off(lab_with_daemons: LabRecord) -> None:
    control = NodeControl(lab_with_daemons)
    control.hang("node1")
    assert "Chassis Power is on" in ipmitool(control, 1, "chassis", "power", "status").stdout
    assert ipmitool(control, 1, "chassis", "power", "off").returncode == 0
    assert control.power("node1").power == "off"
