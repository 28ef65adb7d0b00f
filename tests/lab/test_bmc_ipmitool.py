"""The virtual BMC against the real clients: Debian's ipmitool (lanplus, cipher suites 3
and 17), fence_ipmilan and pyghmi's client, all run inside a network namespace of the
test's own and talking over a veth pair to BMCs in a second one.

`BmcLab` is also used by tests/lab/test_fencing_lab.py.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import pytest

pytestmark = pytest.mark.lab

T = TypeVar("T")
USER = "admin"
PASSWORD = "lab-secret"
CLIENT_ADDRESS = "198.51.100.1"
CLONE_NEWNET = 0x40000000

# The BMC process: a VirtualBmc whose power switch is a file holding "on" or "off".
CHILD = r"""
import logging, os, sys, threading, time
from pathlib import Path
from tandem.lab.bmc import VirtualBmc

class FileSwitch:
    def __init__(self, path):
        self.path = Path(path)
    def is_on(self):
        return self.path.read_text().strip() == "on"
    def power_off(self):
        time.sleep(float(os.environ.get("TBMC_OFF_DELAY", "0.2")))
        self.path.write_text("off\n")
    def power_on(self):
        self.path.write_text("on\n")

logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
bmc = VirtualBmc(sys.argv[1], 623, sys.argv[2], os.environ["TBMC_PASSWORD"],
                 FileSwitch(sys.argv[3]))
print("ready", flush=True)
bmc.serve(threading.Event())
"""


@dataclass
class BmcHandle:
    """One BMC process of the lab and the file that is its node's power."""

    address: str
    state: Path
    log: Path
    proc: subprocess.Popen[bytes]

    def power(self) -> str:
        return self.state.read_text().strip()

    def log_text(self) -> str:
        return self.log.read_text()


def _setns(name: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns({name}) failed")
    finally:
        os.close(fd)


class BmcLab:
    """Namespace `client` (198.51.100.1) joined by a veth to namespace `bmcs`, where each
    BMC gets its own address. Everything is removed on exit, even after a failure."""

    def __init__(self, workdir: Path) -> None:
        tag = secrets.token_hex(3)
        self.client = f"tbmc-{tag}-c"
        self.bmcs = f"tbmc-{tag}-b"
        self.veth = (f"tbc{tag}", f"tbb{tag}")
        self.workdir = workdir
        self.handles: list[BmcHandle] = []

    def __enter__(self) -> BmcLab:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _build(self) -> None:
        client, bmcs = self.client, self.bmcs
        for argv in (["ip", "netns", "add", client], ["ip", "netns", "add", bmcs],
                     ["ip", "-n", client, "link", "set", "lo", "up"],
                     ["ip", "-n", bmcs, "link", "set", "lo", "up"],
                     ["ip", "-n", client, "link", "add", self.veth[0], "type", "veth",
                      "peer", "name", self.veth[1], "netns", bmcs],
                     ["ip", "-n", client, "addr", "add", f"{CLIENT_ADDRESS}/24",
                      "dev", self.veth[0]],
                     ["ip", "-n", client, "link", "set", self.veth[0], "up"],
                     ["ip", "-n", bmcs, "link", "set", self.veth[1], "up"]):
            subprocess.run(argv, check=True, capture_output=True, timeout=30)

    def close(self) -> None:
        for handle in self.handles:
            self.stop_bmc(handle)
        for name in (self.client, self.bmcs):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)

    def start_bmc(self, address: str, *, password: str = PASSWORD, power: str = "on",
                  off_delay_s: float = 0.2) -> BmcHandle:
        """A BMC process on `address` (port 623) in the `bmcs` namespace, ready to answer."""
        subprocess.run(["ip", "-n", self.bmcs, "addr", "add", f"{address}/24", "dev",
                        self.veth[1]], check=True, capture_output=True, timeout=30)
        state = self.workdir / f"power-{address}"
        state.write_text(power + "\n")
        log = self.workdir / f"bmc-{address}.log"
        env = {**os.environ, "TBMC_PASSWORD": password, "TBMC_OFF_DELAY": str(off_delay_s)}
        with log.open("wb") as err:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", self.bmcs, sys.executable, "-c", CHILD, address, USER,
                 str(state)], stdout=subprocess.PIPE, stderr=err, env=env,
                start_new_session=True)
        handle = BmcHandle(address, state, log, proc)
        self.handles.append(handle)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        if not ready or proc.stdout.readline().strip() != b"ready":
            raise AssertionError(f"BMC {address} did not start: {log.read_text()}")
        return handle

    def stop_bmc(self, handle: BmcHandle) -> None:
        """Kill a BMC process (its node's power file stays as it was)."""
        if handle.proc.poll() is None:
            os.killpg(handle.proc.pid, signal.SIGKILL)
        handle.proc.wait(timeout=30)
        if handle.proc.stdout is not None:
            handle.proc.stdout.close()

    def run(self, *argv: str, env: dict[str, str] | None = None,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command in the client namespace."""
        return subprocess.run(["ip", "netns", "exec", self.client, *argv], input=stdin,
                              capture_output=True, text=True, timeout=120, env=env)

    def ipmitool(self, address: str, *args: str, password: str = PASSWORD,
                 user: str = USER) -> subprocess.CompletedProcess[str]:
        """The real ipmitool over lanplus from the client namespace."""
        return self.run("ipmitool", "-I", "lanplus", "-H", address, "-U", user, "-E",
                        "-N", "1", "-R", "2", *args,
                        env={**os.environ, "IPMI_PASSWORD": password})

    def in_client(self, fn: Callable[[], T], timeout_s: float = 300) -> T:
        """Call `fn` in a thread that lives in the client namespace (so do its children)."""
        return self.in_namespace(self.client, fn, timeout_s)

    @staticmethod
    def in_namespace(name: str, fn: Callable[[], T], timeout_s: float = 300) -> T:
        box: dict[str, Any] = {}

        def body() -> None:
            try:
                _setns(name)
                box["value"] = fn()
            except BaseException as exc:
                box["error"] = exc

        thread = threading.Thread(target=body, daemon=True)
        thread.start()
        thread.join(timeout_s)
        if thread.is_alive():
            raise AssertionError(f"call in namespace {name} did not end in {timeout_s} s")
        if "error" in box:
            raise box["error"]
        value: T = box["value"]
        return value


@pytest.fixture()
def lab(tmp_path: Path) -> Iterator[BmcLab]:
    with BmcLab(tmp_path) as built:
        yield built


@pytest.fixture()
def bmc(lab: BmcLab) -> BmcHandle:
    return lab.start_bmc("198.51.100.101")


def power_status(lab: BmcLab, address: str) -> str:
    result = lab.ipmitool(address, "chassis", "power", "status")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_power_commands_are_truthful(lab: BmcLab, bmc: BmcHandle) -> None:
    assert power_status(lab, bmc.address) == "Chassis Power is on"
    for action, expect_state, expect_reply in [
            ("off", "off", "Down/Off"), ("off", "off", "Down/Off"), ("on", "on", "Up/On"),
            ("soft", "off", "Soft"), ("cycle", "on", "Cycle"), ("reset", "on", "Reset")]:
        result = lab.ipmitool(bmc.address, "chassis", "power", action)
        assert result.returncode == 0, result.stderr
        assert expect_reply in result.stdout
        assert bmc.power() == expect_state
        assert power_status(lab, bmc.address) == f"Chassis Power is {expect_state}"
    chassis = lab.ipmitool(bmc.address, "chassis", "status")
    assert "System Power         : on" in chassis.stdout
    # every power request is logged with its origin
    lines = [ln for ln in bmc.log_text().splitlines() if " power " in ln]
    assert [ln.split(" power ")[1].split(" ")[0] for ln in lines] == [
        "off", "off", "on", "soft", "cycle", "reset"]
    assert all(f"from {CLIENT_ADDRESS}:" in ln for ln in lines)
    assert lines[1].endswith("already off")


def test_power_off_of_a_powered_off_node_changes_nothing(lab: BmcLab) -> None:
    handle = lab.start_bmc("198.51.100.103", power="off")
    assert power_status(lab, handle.address) == "Chassis Power is off"
    assert lab.ipmitool(handle.address, "chassis", "power", "off").returncode == 0
    assert handle.power() == "off"


@pytest.mark.parametrize("suite", ["3", "17"])
def test_cipher_suites_3_and_17(lab: BmcLab, bmc: BmcHandle, suite: str) -> None:
    info = lab.ipmitool(bmc.address, "-C", suite, "mc", "info")
    assert info.returncode == 0, info.stderr
    assert "IPMI Version              : 2.0" in info.stdout
    assert "Firmware Revision         : 1.00" in info.stdout
    assert "Chassis Device" in info.stdout
    assert lab.ipmitool(bmc.address, "-C", suite, "chassis", "power", "off").returncode == 0
    assert bmc.power() == "off"


def test_default_negotiation_picks_suite_17(lab: BmcLab, bmc: BmcHandle) -> None:
    result = lab.ipmitool(bmc.address, "-v", "chassis", "power", "status")
    assert "Using best available cipher suite 17" in result.stderr
    refused = lab.ipmitool(bmc.address, "-C", "1", "chassis", "power", "status")
    assert refused.returncode != 0


def test_wrong_password_and_unknown_user_are_refused(lab: BmcLab, bmc: BmcHandle) -> None:
    wrong = lab.ipmitool(bmc.address, "-v", "chassis", "power", "off", password="guess")
    assert wrong.returncode != 0 and "RAKP 2 HMAC is invalid" in wrong.stderr
    stranger = lab.ipmitool(bmc.address, "-v", "chassis", "power", "off", user="root")
    assert stranger.returncode != 0 and "unauthorized name" in stranger.stderr
    assert bmc.power() == "on"
    assert "unknown user 'root'" in bmc.log_text()


def test_power_control_needs_operator_privilege(lab: BmcLab, bmc: BmcHandle) -> None:
    as_user = lab.ipmitool(bmc.address, "-L", "USER", "chassis", "power", "off")
    assert as_user.returncode != 0 and "Insufficient privilege" in as_user.stderr
    assert lab.ipmitool(bmc.address, "-L", "USER", "chassis", "power", "status").returncode == 0
    assert bmc.power() == "on"
    assert lab.ipmitool(bmc.address, "-L", "OPERATOR", "chassis", "power", "off").returncode == 0
    assert bmc.power() == "off"


def test_fence_ipmilan_lanplus_command_line(lab: BmcLab, bmc: BmcHandle) -> None:
    base = ["fence_ipmilan", "--lanplus", "--ip", bmc.address, "--username", USER,
            "--password-script", f"echo {PASSWORD}", "--power-wait", "0"]
    status = lab.run(*base, "--action", "status")
    assert (status.returncode, status.stdout.strip()) == (0, "Status: ON"), status.stderr
    off = lab.run(*base, "--action", "off")
    assert off.returncode == 0 and bmc.power() == "off", off.stderr
    assert lab.run(*base, "--action", "status").returncode == 2


def test_pyghmi_client_negotiates_with_the_server(lab: BmcLab, bmc: BmcHandle) -> None:
    code = ("import os\nfrom pyghmi.ipmi import command\n"
            f"c = command.Command(bmc='{bmc.address}', userid='{USER}', "
            "password=os.environ['PW'], keepalive=False)\n"
            "print(c.get_power()['powerstate'])\n"
            "c.set_power('off', wait=False)\n"
            "print(c.get_power()['powerstate'])\n"
            "c.ipmi_session.logout()\n")
    result = lab.run(sys.executable, "-c", code, env={**os.environ, "PW": PASSWORD})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["on", "off"]
    assert bmc.power() == "off"


def test_a_retransmitted_request_powers_off_once(lab: BmcLab) -> None:
    # power-off takes longer than ipmitool's 1 s answer timeout, so it sends again
    slow = lab.start_bmc("198.51.100.104", off_delay_s=1.5)
    result = lab.ipmitool(slow.address, "chassis", "power", "cycle")
    assert result.returncode == 0, result.stderr
    assert slow.power() == "on"
    assert slow.log_text().count(" power cycle ") == 1


def test_run_bmc_serves_until_stopped(lab: BmcLab, tmp_path: Path) -> None:
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

    subprocess.run(["ip", "-n", lab.bmcs, "addr", "add", "198.51.100.105/24", "dev",
                    lab.veth[1]], check=True, timeout=30)
    switch, stop = Switch(), threading.Event()
    server = threading.Thread(target=BmcLab.in_namespace, args=(
        lab.bmcs, lambda: run_bmc("198.51.100.105", 623, USER, PASSWORD, switch, stop)),
        daemon=True)
    server.start()
    try:
        result = subprocess.CompletedProcess[str]([], 1)
        for _ in range(50):  # the thread needs a moment to bind
            result = lab.ipmitool("198.51.100.105", "-R", "1", "chassis", "power", "off")
            if result.returncode == 0:
                break
            time.sleep(0.1)
        assert result.returncode == 0, result.stderr
        assert not switch.on
    finally:
        stop.set()
        server.join(30)
    assert not server.is_alive()
