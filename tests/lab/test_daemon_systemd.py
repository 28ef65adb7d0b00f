"""tandemd under a service manager: the unit `tandem install` writes passes
`systemd-analyze verify`, and a real tandemd speaks the notify protocol — READY once it
waits for its peers, WATCHDOG from its loop at the asked interval, STOPPING on SIGTERM.

systemd cannot run as PID 1 here (LAB-NOTES: no systemd inside lab nodes, and this
machine's PID 1 is not systemd), so the test plays the service manager's side of the
protocol itself: it owns the notify socket and reads what tandemd sends, exactly what
systemd would receive. When systemd does run the machine, the unit is also started for
real (see test_under_systemd).

The daemon runs in an empty network namespace of its own (`unshare --net`) whose loopback
holds node1's ring addresses, so nothing leaves it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit import cell_config
from tandem.system.unit import unit_text

pytestmark = pytest.mark.lab
KEY = "cd" * 32 + "\n"


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[Path, socket.socket]]:
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    yield path, sock
    sock.close()


def messages(sock: socket.socket, until: float) -> list[str]:
    """Every notify datagram until `until` (monotonic)."""
    found = []
    while (left := until - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            found.append(sock.recv(4096).decode())
        except TimeoutError:
            break
    return found


def wait_message(sock: socket.socket, prefix: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            message = sock.recv(4096).decode()
        except TimeoutError:
            break
        if message.startswith(prefix):
            return message
    raise AssertionError(f"no {prefix} from tandemd within {timeout:g} s")


def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is missing: install the systemd package (./dev does)")
    tandemd = shutil.which("tandemd")
    assert tandemd is not None
    unit = tmp_path / "tandemd.service"
    unit.write_text(unit_text(tandemd))
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "tandemd.service" not in done.stderr, done.stderr


def daemon_script(tmp_path: Path) -> str:
    """A shell line that gives an empty network namespace node1's ring addresses on its
    loopback and becomes tandemd there (same pid: the service manager's main process)."""
    key = tmp_path / "cluster.key"
    key.write_text(KEY)
    key.chmod(0o600)
    config = tmp_path / "cell.toml"
    config.write_text(cell_config("sd", bmc=False).replace("/etc/tandem/cluster.key",
                                                           str(key)))
    return ("ip link set lo up && ip addr add 198.51.100.11/24 dev lo && "
            "ip addr add 203.0.113.11/24 dev lo && exec tandemd --config "
            f"{config} --node node1 --log-file {tmp_path}/tandemd.log --no-realtime")


def test_tandemd_speaks_the_notify_protocol(
        tmp_path: Path, notify_socket: tuple[Path, socket.socket]) -> None:
    path, sock = notify_socket
    env = {**os.environ, "NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "1000000"}
    daemon = subprocess.Popen(["unshare", "--net", "sh", "-c", daemon_script(tmp_path)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
    try:
        ready = wait_message(sock, "READY=1", 20)
        assert "STATUS=node node1 of cluster sd" in ready
        fed = messages(sock, time.monotonic() + 2.2)
        assert 3 <= fed.count("WATCHDOG=1") <= 6, fed  # every ~0.5 s for WatchdogSec=1
        daemon.send_signal(signal.SIGTERM)
        assert wait_message(sock, "STOPPING=1", 10)
        assert daemon.wait(timeout=60) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(timeout=10)
        assert daemon.stderr is not None
        daemon.stderr.close()


def systemctl(*args: str) -> str:
    return subprocess.run(["systemctl", *args], capture_output=True, text=True,
                          timeout=60).stdout.strip()


def test_under_systemd(tmp_path: Path) -> None:
    """With systemd as PID 1, tandemd runs as a transient Type=notify unit with a
    watchdog: active once it said READY, still active after several watchdog periods,
    stopped cleanly. Without it, the test says so."""
    if not os.path.isdir("/run/systemd/system"):
        pytest.skip("systemd is not PID 1 on this machine (it cannot be started here): "
                    "the notify protocol is tested against the daemon above instead")
    unit = f"tandemd-test-{os.getpid()}"
    subprocess.run(["systemd-run", f"--unit={unit}", "--property=Type=notify",
                    "--property=NotifyAccess=main", "--property=WatchdogSec=2", "--",
                    "unshare", "--net", "sh", "-c", daemon_script(tmp_path)],
                   check=True, capture_output=True, timeout=60)
    try:
        assert systemctl("is-active", unit) == "active"  # systemd-run waits for READY
        time.sleep(5)
        assert systemctl("is-active", unit) == "active"  # the watchdog is fed
    finally:
        subprocess.run(["systemctl", "stop", unit], capture_output=True, timeout=120)
    assert systemctl("is-active", unit) in ("inactive", "unknown")
