"""Processes of the lab: running helper commands, detaching daemons, finding and
signalling every process that belongs to a node (by its network namespace)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from tandem.common.errors import TandemError
from tandem.util import daemonize


class LabError(TandemError):
    """A lab operation failed; the message is one line meant for the operator."""


def spawn_detached(argv: Sequence[str], log_path: Path,
                   env: dict[str, str] | None = None) -> int:
    """Start a daemon detached from us (see tandem.util.daemonize); LabError on failure."""
    try:
        return daemonize.spawn_detached(argv, log_path, env)
    except OSError as exc:
        raise LabError(f"could not start {argv[0]}: {exc}") from None


def run(argv: Sequence[str], *, timeout: float = 30.0, check: bool = True,
        input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a helper command and capture its output; LabError names it on failure."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              input=input_text, check=False)
    except FileNotFoundError:
        raise LabError(f"command not found: {argv[0]} (is its package installed?)") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"{' '.join(argv)} did not finish within {timeout:.0f} s") from None
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise LabError(f"{' '.join(argv)} failed ({proc.returncode}): "
                       f"{detail[-1] if detail else 'no output'}")
    return proc


def end_child(proc: subprocess.Popen[str], reader: threading.Thread | None = None,
              timeout: float = 5.0) -> None:
    """Stop a helper process we started (TERM, then KILL past `timeout`) and the thread
    that read its output."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if reader is not None:
        reader.join(timeout=timeout)


def netns_inode(name: str) -> int | None:
    """Inode number of a named network namespace (None if it does not exist)."""
    try:
        return os.stat(f"/run/netns/{name}").st_ino
    except FileNotFoundError:
        return None


def _ns_inode(pid: str, kind: str) -> int | None:
    try:
        link = os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None
    return int(link[link.index("[") + 1:-1])


def pids_by_netns(inodes: set[int]) -> Iterator[tuple[int, int]]:
    """(pid, netns inode) of every live process whose network namespace is in `inodes`."""
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        inode = _ns_inode(entry.name, "net")
        if inode is not None and inode in inodes:
            yield int(entry.name), inode


def pids_in_netns(inode: int) -> list[int]:
    """Every live process of one network namespace."""
    return [pid for pid, _ in pids_by_netns({inode})]


def mount_ns_of(pid: int) -> int | None:
    """Inode of the mount namespace of `pid` (None if it is gone)."""
    return _ns_inode(str(pid), "mnt")


def signal_pids(pids: Sequence[int], sig: int) -> None:
    """Send `sig` to each pid, ignoring processes that are already gone."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def kill_netns_processes(inode: int, *, timeout: float = 10.0) -> None:
    """SIGKILL every process of a namespace until none is left (bounded)."""
    deadline = time.monotonic() + timeout
    pause = 0.001  # killed processes are usually gone at once (a BMC's power-off waits)
    while True:
        pids = pids_in_netns(inode)
        if not pids:
            return
        signal_pids(pids, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise LabError(f"processes {pids[:5]} survived SIGKILL for {timeout:.0f} s")
        time.sleep(pause)
        pause = min(pause * 2, 0.01)


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait until `pid` no longer exists (or is a zombie); True if it went away."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(0.01)
    return not is_alive(pid)


def is_alive(pid: int) -> bool:
    """True if `pid` runs (zombies count as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")
