"""The virtual BMC against the real clients: Debian's ipmitool (lanplus, cipher suites 3
and 17), fence_ipmilan and pyghmi's client, all run inside a network namespace of the
test's own and talking over a veth pair to BMCs in a second one (tests/bmckit.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bmckit import CLIENT_ADDRESS, PASSWORD, USER, BmcHandle, BmcLab, power_status

pytestmark = pytest.mark.lab


def test_power_commands_are_truthful(bmc_lab: BmcLab, bmc: BmcHandle) -> None:
    assert power_status(bmc_lab, bmc.address) == "Chassis Power is on"
    for action, expect_state, expect_reply in [
            ("off", "off", "Down/Off"), ("off", "off", "Down/Off"), ("on", "on", "Up/On"),
            ("soft", "off", "Soft"), ("cycle", "on", "Cycle"), ("reset", "on", "Reset")]:
        result = bmc_lab.ipmitool(bmc.address, "chassis", "power", action)
        assert result.returncode == 0, result.stderr
        assert expect_reply in result.stdout
        assert bmc.power() == expect_state
        assert power_status(bmc_lab, bmc.address) == f"Chassis Power is {expect_state}"
    chassis = bmc_lab.ipmitool(bmc.address, "chassis", "status")
    assert "System Power         : on" in chassis.stdout
    # every power request is logged with its origin
    lines = [ln for ln in bmc.log_text().splitlines() if " power " in ln]
    assert [ln.split(" power ")[1].split(" ")[0] for ln in lines] == [
        "off", "off", "on", "soft", "cycle", "reset"]
    assert all(f"from {CLIENT_ADDRESS}:" in ln for ln in lines)
    assert ": already off (switched in " in lines[1]


def test_power_off_of_a_powered_off_node_changes_nothing(bmc_lab: BmcLab) -> None:
    handle = bmc_lab.start_bmc("198.51.100.103", power="off")
    assert power_status(bmc_lab, handle.address) == "Chassis Power is off"
    assert bmc_lab.ipmitool(handle.address, "chassis", "power", "off").returncode == 0
    assert handle.power() == "off"


@pytest.mark.parametrize("suite", ["3", "17"])
def test_cipher_suites_3_and_17(bmc_lab: BmcLab, bmc: BmcHandle, suite: str) -> None:
    info = bmc_lab.ipmitool(bmc.address, "-C", suite, "mc", "info")
    assert info.returncode == 0, info.stderr
    assert "IPMI Version              : 2.0" in info.stdout
    assert "Firmware Revision         : 1.00" in info.stdout
    assert "Chassis Device" in info.stdout
    assert bmc_lab.ipmitool(bmc.address, "-C", suite, "chassis", "power", "off").returncode == 0
    assert bmc.power() == "off"


def test_default_negotiation_picks_suite_17(bmc_lab: BmcLab, bmc: BmcHandle) -> None:
    result = bmc_lab.ipmitool(bmc.address, "-v", "chassis", "power", "status")
    assert "Using best available cipher suite 17" in result.stderr
    refused = bmc_lab.ipmitool(bmc.address, "-C", "1", "chassis", "power", "status")
    assert refused.returncode != 0


def test_wrong_password_and_unknown_user_are_refused(bmc_lab: BmcLab, bmc: BmcHandle) -> None:
    wrong = bmc_lab.ipmitool(bmc.address, "-v", "chassis", "power", "off", password="guess")
    assert wrong.returncode != 0 and "RAKP 2 HMAC is invalid" in wrong.stderr
    stranger = bmc_lab.ipmitool(bmc.address, "-v", "chassis", "power", "off", user="root")
    assert stranger.returncode != 0 and "unauthorized name" in stranger.stderr
    assert bmc.power() == "on"
    assert "unknown user 'root'" in bmc.log_text()


def test_power_control_needs_operator_privilege(bmc_lab: BmcLab, bmc: BmcHandle) -> None:
    as_user = bmc_lab.ipmitool(bmc.address, "-L", "USER", "chassis", "power", "off")
    assert as_user.returncode != 0 and "Insufficient privilege" in as_user.stderr
    assert bmc_lab.ipmitool(bmc.address, "-L", "USER", "chassis", "power", "status").returncode == 0
    assert bmc.power() == "on"
    as_operator = bmc_lab.ipmitool(bmc.address, "-L", "OPERATOR", "chassis", "power", "off")
    assert as_operator.returncode == 0
    assert bmc.power() == "off"


def test_fence_ipmilan_lanplus_command_line(bmc_lab: BmcLab, bmc: BmcHandle) -> None:
    base = ["fence_ipmilan", "--lanplus", "--ip", bmc.address, "--username", USER,
            "--password-script", f"echo {PASSWORD}", "--power-wait", "0"]
    status = bmc_lab.run(*base, "--action", "status")
    assert (status.returncode, status.stdout.strip()) == (0, "Status: ON"), status.stderr
    off = bmc_lab.run(*base, "--action", "off")
    assert off.returncode == 0 and bmc.power() == "off", off.stderr
    assert bmc_lab.run(*base, "--action", "status").returncode == 2


def test_pyghmi_client_negotiates_with_the_server(bmc_lab: BmcLab, bmc: BmcHandle) -> None:
    code = ("import os\nfrom pyghmi.ipmi import command\n"
            f"c = command.Command(bmc='{bmc.address}', userid='{USER}', "
            "password=os.environ['PW'], keepalive=False)\n"
            "print(c.get_power()['powerstate'])\n"
            "c.set_power('off', wait=False)\n"
            "print(c.get_power()['powerstate'])\n"
            "c.ipmi_session.logout()\n")
    result = bmc_lab.run(sys.executable, "-c", code, env={**os.environ, "PW": PASSWORD})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["on", "off"]
    assert bmc.power() == "off"


def test_a_retransmitted_request_powers_off_once(bmc_lab: BmcLab) -> None:
    # power-off takes longer than ipmitool's 1 s answer timeout, so it sends again
    slow = bmc_lab.start_bmc("198.51.100.104", off_delay_s=1.5)
    result = bmc_lab.ipmitool(slow.address, "chassis", "power", "cycle")
    assert result.returncode == 0, result.stderr
    assert slow.power() == "on"
    assert slow.log_text().count(" power cycle ") == 1


def test_run_bmc_serves_until_stopped(bmc_lab: BmcLab, tmp_path: Path) -> None:
    from tandem.lab.bmc import run_bmc

    class Switch:
        def __init__(self) -> None:
            self.on = True

        def is_on(self) -> bool:
            return self.on

        def power_off(self) -> None:
            self.on = False

        def power_on(self) -> None:
            self.on = True

    subprocess.run(["ip", "-n", bmc_lab.bmcs, "addr", "add", "198.51.100.105/24", "dev",
                    bmc_lab.veth[1]], check=True, timeout=30)
    switch, stop = Switch(), threading.Event()
    server = threading.Thread(target=BmcLab.in_namespace, args=(
        bmc_lab.bmcs, lambda: run_bmc("198.51.100.105", 623, USER, PASSWORD, switch, stop)),
        daemon=True)
    server.start()
    try:
        result = subprocess.CompletedProcess[str]([], 1)
        for _ in range(50):  # the thread needs a moment to bind
            result = bmc_lab.ipmitool("198.51.100.105", "-R", "1", "chassis", "power", "off")
            if result.returncode == 0:
                break
            time.sleep(0.1)
        assert result.returncode == 0, result.stderr
        assert not switch.on
    finally:
        stop.set()
        server.join(30)
    assert not server.is_alive()
