"""The NFS failover benchmark's cell, client, faults and runs (bench/nfs_failover.py).

One cell for both stacks: examples/demo-cell.toml (default profile timing) with its web
service replaced by the HA_NFS service tandem generates for one shared ext4 file system
and the address 198.51.100.70/24 (tandem.hpc.nfs.service, as `tandem nfs service`
writes it). tandem runs that service; Pacemaker runs the same resources as a group
(benchlib.stacks.pacemaker_nfs). The client is tandem.lab.nfsclient in the lab's client
namespace (libnfs, NFSv3, one file handle, every write retried as on a hard mount and
committed before it counts, everything read back at the end).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from benchlib import cells
from benchlib.errors import BenchError
from benchlib.labs import Lab
from benchlib.profiles import DEFAULT
from tandem.config import parse_config
from tandem.hpc.nfs.haionfs import SharedFs
from tandem.hpc.nfs.service import SERVICE, nfs_service, service_toml
from tandem.lab.proc import netns_inode, pids_by_netns
from tandem.lab.wait import WaitTimeout, wait_for

ADDRESS = "198.51.100.70"
MOUNT = "/srv/nfs"
DISK = "/dev/tandem/shared"
RECORDS = 250
INTERVAL_S = 0.02
FAULT_AFTER = 50  # records acknowledged before the fault
CLIENT_LIMIT_S = 300.0  # the whole client run, pause included (the client gives up at 120 s)
MOVED_TIMEOUT_S = 90.0
FAULTS = ("crash", "kill", "relocate")
FAULT_TEXT = {"crash": "power loss of the active node",
              "kill": "kill -9 of ganesha.nfsd on the active node",
              "relocate": "planned relocation (tandem svc relocate / crm_resource --move)"}
SERVER_MARK = "ganesha.nfsd"


class NfsStack(Protocol):
    """What a run needs of a stack (TandemNfsStack, PacemakerNfsStack)."""

    lab: Lab

    @property
    def label(self) -> str: ...

    def wait_ready(self, timeout: float = ...) -> str: ...

    def owner(self) -> str | None: ...

    def relocate(self, target: str) -> None: ...

    def recover(self) -> str: ...

    def clear_failures(self) -> None: ...

    def diagnose(self) -> str: ...


def cell_text(peer: bool) -> str:
    """The demo cell at the default profile, its `web` service replaced by HA_NFS; a
    private /run per node (rpcbind's lock and socket live there)."""
    text = cells.cell_text(DEFAULT, peer_dirs=peer)
    head, found, rest = text.partition("[[services]]")
    if not found or "\n[lab]" not in rest:
        raise BenchError(f"{cells.DEMO_CELL}: no [[services]] before [lab]")
    base = head + rest[rest.index("\n[lab]") + 1:]
    dirs = tomllib.loads(base)["lab"]["private_dirs"]
    if "/run" not in dirs:
        line = "private_dirs = [" + ", ".join(f'"{d}"' for d in [*dirs, "/run"]) + "]"
        base, count = re.subn(r"^private_dirs\s*=.*$", line, base, count=1, flags=re.M)
        if count != 1:
            raise BenchError("the cell has no private_dirs line")
    config = parse_config(base, str(cells.DEMO_CELL))
    service = nfs_service(config, [n.name for n in config.nodes],
                          [SharedFs(DISK, MOUNT, "ext4", 1)], [f"{ADDRESS}/24"])
    return base + "\n" + service_toml(config, service)


class Client:
    """tandem.lab.nfsclient writing numbered records; its JSON lines as they come."""

    def __init__(self, lab: Lab, tag: str) -> None:
        argv = lab.control.exec_argv("client", [
            sys.executable, "-m", "tandem.lab.nfsclient", "--server", ADDRESS, "--export",
            MOUNT, "--file", f"records-{tag}", "--records", str(RECORDS),
            "--interval", str(INTERVAL_S)])
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.lines: list[dict[str, Any]] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.lines.append(json.loads(line))
            except json.JSONDecodeError:
                self.lines.append({"event": "garbled", "line": line[:200]})

    def acknowledged(self) -> int:
        return sum(1 for line in list(self.lines) if "n" in line)

    def wait_records(self, count: int, timeout: float) -> None:
        wait_for(lambda: self.acknowledged() >= count or self.proc.poll() is not None,
                 timeout, f"the client's first {count} records", interval=0.02)
        if self.acknowledged() < count:
            raise BenchError(f"the NFS client stopped early: {self.tail()}")

    def finish(self, timeout: float) -> list[dict[str, Any]]:
        """Wait for the client's end (killed after `timeout`); every line it wrote."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.lines.append({"event": "timeout", "error": f"still running after {timeout} s"})
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.reader.join(timeout=10)
        return self.lines

    def tail(self) -> str:
        stderr = self.proc.stderr.read()[-300:] if self.proc.stderr and \
            self.proc.poll() is not None else ""
        return f"{self.lines[-2:]} {stderr}".strip()


@dataclass
class NfsRun:
    """What one fault looked like from the NFS client."""

    fault: str
    from_node: str
    to_node: str | None
    longest_pause_s: float | None
    acknowledged: int
    lost: int | None  # acknowledged records that did not read back
    stale: int  # stale file handle errors
    error: str | None = None
    diagnosis: str | None = None  # what the stack said about itself after a failed run

    @property
    def ok(self) -> bool:
        return self.error is None and self.lost == 0 and self.stale == 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def judge(fault: str, owner: str, to: str | None, lines: list[dict[str, Any]]) -> NfsRun:
    """The client's lines as a run: its longest pause, lost records, stale handles."""
    pauses = [float(line["pause_s"]) for line in lines if "n" in line]
    stale = sum(1 for line in lines if line.get("event") == "stale")
    bad = [line for line in lines if line.get("event") in ("gave_up", "error", "timeout",
                                                            "garbled")]
    verified = next((line for line in lines if line.get("event") == "verified"), None)
    error = bad[0].get("error", str(bad[0])) if bad else None
    if verified is None and error is None and not stale:
        error = "the client ended without reading its records back"
    return NfsRun(fault, owner, to, max(pauses) if pauses else None, len(pauses),
                  len(verified["bad"]) if verified else None, stale, error)


def kill_server(lab: Lab, node: str) -> int:
    """SIGKILL every ganesha.nfsd of `node` (found by its network namespace: lab nodes
    share the machine's process space, so never by name alone); how many."""
    inode = netns_inode(lab.names.node_ns(node))
    if inode is None:
        raise BenchError(f"{node}: no network namespace")
    killed = 0
    for pid, _ in pids_by_netns({inode}):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                argv0 = handle.read().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        if os.path.basename(argv0) == SERVER_MARK:
            os.kill(pid, signal.SIGKILL)
            killed += 1
    if not killed:
        raise BenchError(f"{node}: no {SERVER_MARK} to kill")
    return killed


def fault_action(stack: NfsStack, fault: str, owner: str) -> Callable[[], object]:
    """What to do to the active node for `fault`."""
    lab, other = stack.lab, stack.lab.other(owner)
    actions: dict[str, Callable[[], object]] = {
        "crash": lambda: lab.control.crash(owner),
        "kill": lambda: kill_server(lab, owner),
        "relocate": lambda: stack.relocate(other),
    }
    return actions[fault]


def one_run(stack: NfsStack, fault: str, index: int, say: Callable[[str], None]) -> NfsRun:
    """Client writing, fault at its 50th record, client to its end and read-back; then
    the cell brought back (both nodes members, the service running, failures cleared)."""
    owner = stack.wait_ready()
    client = Client(stack.lab, f"{fault}{index}-{time.monotonic_ns()}")
    failed = None
    try:
        client.wait_records(FAULT_AFTER, 60)
        try:
            fault_action(stack, fault, owner)()
        except BenchError as exc:
            failed = f"the fault itself failed: {exc}"
        lines = client.finish(CLIENT_LIMIT_S)
    finally:
        if client.proc.poll() is None:
            client.proc.kill()
            client.proc.wait(timeout=10)
    other = stack.lab.other(owner)
    try:
        wait_for(lambda: stack.owner() == other, MOVED_TIMEOUT_S, f"{SERVICE} on {other}")
        to: str | None = other
    except WaitTimeout:
        to = stack.owner()
    result = judge(fault, owner, to, lines)
    moved = None if to == other else f"{SERVICE} did not move to {other} (owner now: {to})"
    result.error = "; ".join(e for e in (failed, moved, result.error) if e) or None
    if result.error:
        result.diagnosis = stack.diagnose()[-6000:]
    pause = "-" if result.longest_pause_s is None else f"{result.longest_pause_s:.2f} s"
    say(f"{stack.label} {fault} {index}: {owner} -> {to}, longest pause {pause}, "
        f"{result.acknowledged} records, lost {result.lost}, stale {result.stale}"
        + (f", error: {result.error}" if result.error else ""))
    restore(stack)
    return result


def restore(stack: NfsStack) -> None:
    """Power on what is off, wait for both members and the service, clear failures."""
    stack.recover()
    stack.clear_failures()
    stack.wait_ready()
