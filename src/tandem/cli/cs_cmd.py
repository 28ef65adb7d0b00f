"""`cs -c start|stop|status`: the cluster suite's start script for the local tandemd.

Under systemd (PID 1 is systemd and systemctl exists) it goes through the unit that
`tandem install` writes, so that systemd supervises the daemon and does not restart one
that was stopped on purpose; elsewhere it starts tandemd detached and stops it with
SIGTERM. Every failure is one line, `cs: error: ...`, with exit status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tandem.cli.client import ControlError, call, socket_path
from tandem.cli.guard import guarded
from tandem.common.errors import TandemError

SYSTEMD_DIR = "/run/systemd/system"  # exists when systemd is PID 1
UNIT = "tandemd.service"
LOG_HINT = "see /var/log/tandem/tandemd.log"


class CsError(TandemError):
    """cs could not do what it was asked; one line."""


def cs_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cs", description="start, stop or show the local "
                                                            "tandem daemon (through systemd "
                                                            "when it runs the machine)")
    parser.add_argument("-c", dest="command", required=True, choices=["start", "stop",
                                                                       "status"])
    parser.add_argument("-w", dest="timeout", type=float, default=60.0, metavar="SECONDS",
                        help="how long to wait for the daemon (default: %(default)s)")
    args = parser.parse_args(argv)
    actions = {"start": cs_start, "stop": cs_stop, "status": cs_status}
    return guarded("cs", lambda: actions[args.command](args.timeout))


def under_systemd() -> bool:
    return os.path.isdir(SYSTEMD_DIR) and shutil.which("systemctl") is not None


def _running() -> dict[str, Any] | None:
    try:
        answer: dict[str, Any] = call("ping", timeout=3)
        return answer
    except ControlError:
        return None


def cs_status(_: float) -> int:
    ping = _running()
    print(f"tandemd is running on {ping['node']} (pid {ping['pid']})" if ping
          else "tandemd is not running")
    return 0 if ping else 3


def _systemctl(action: str, timeout: float) -> None:
    try:
        done = subprocess.run(["systemctl", action, UNIT], capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CsError(f"systemctl {action} {UNIT} did not finish within {timeout:g} s") \
            from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        hint = " (run `tandem install` first)" if "not found" in done.stderr else ""
        raise CsError(f"systemctl {action} {UNIT} failed: "
                      f"{said[-1] if said else f'exit status {done.returncode}'}{hint}")


def _spawn() -> subprocess.Popen[bytes]:
    """tandemd detached from us (the one installed beside this Python, else PATH's)."""
    beside = Path(sys.executable).with_name("tandemd")
    tandemd = str(beside) if beside.exists() else shutil.which("tandemd")
    if tandemd is None:
        raise CsError("tandemd is not installed (not beside this Python, not on PATH)")
    try:
        return subprocess.Popen([tandemd], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
    except OSError as exc:
        raise CsError(f"cannot run {tandemd}: {exc.strerror or exc}") from None


def cs_start(timeout: float) -> int:
    if _running():
        print("tandemd is already running")
        return 0
    daemon = None
    if under_systemd():
        _systemctl("start", timeout)
    else:
        daemon = _spawn()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _running():
            print("tandemd started")
            return 0
        if daemon is not None and daemon.poll() is not None:
            raise CsError(f"tandemd exited at once with status {daemon.returncode} "
                          f"({LOG_HINT})")
        time.sleep(0.1)
    raise CsError(f"tandemd did not answer on {socket_path()} within {timeout:g} s "
                  f"({LOG_HINT})")


def cs_stop(timeout: float) -> int:
    ping = _running()
    if ping is None:
        print("tandemd is not running")
        return 0
    print("stopping tandemd: its services stop here and move to the other members")
    if under_systemd():
        _systemctl("stop", timeout)
    else:
        with contextlib.suppress(ProcessLookupError):  # it left since the ping
            os.kill(int(ping["pid"]), signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _running() is None:
            print("tandemd stopped")
            return 0
        time.sleep(0.2)
    raise CsError(f"tandemd still runs after {timeout:g} s")
