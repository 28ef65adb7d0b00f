"""Virtual BMCs alone, for the tests of the BMC itself and of fencing through it: a
namespace `client` joined by a veth pair to a namespace `bmcs` where each BMC process
gets an address of its own, and whose node's power is a file. Everything is removed on
exit, even after a failure. The `bmc_lab` and `bmc` fixtures (conftest) hand them out."""

from __future__ import annotations

import ctypes
import os
import secrets
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

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


def power_status(bmc_lab: BmcLab, address: str) -> str:
    """What ipmitool reads as the power of the BMC at `address`."""
    result = bmc_lab.ipmitool(address, "chassis", "power", "status")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()
