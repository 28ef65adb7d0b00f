"""What every stack under test offers the benchmarks, and the helpers they share.

A stack runs inside a lab (one per stack and setting, all built from the same cell):
it starts its daemons in the nodes, tells which node serves the web service, brings a
crashed node back into the cell, relocates the service on request, and names the
processes that make up its daemon (for the footprint benchmark).
"""

from __future__ import annotations

import abc
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from benchlib.cells import service_vip
from benchlib.errors import BenchError
from benchlib.labs import Lab
from benchlib.runs import Run
from tandem.lab.probe import HttpProbe, outage_ms
from tandem.lab.proc import LabError, netns_inode, pids_in_netns, spawn_detached
from tandem.lab.wait import WaitTimeout, wait_for

Say = Callable[[str], None]
READY_TIMEOUT_S = 120.0
FAILOVER_TIMEOUT_S = 60.0
NEW_OWNER_TIMEOUT_S = 30.0


class Stack(abc.ABC):
    """One HA stack at one setting, running in its own lab."""

    family = "?"
    content_dir = "/srv/web"  # where the served index.html lives, in the owner

    def __init__(self, lab: Lab, setting: str, say: Say) -> None:
        self.lab = lab
        self.setting = setting
        self.say = say

    @property
    def label(self) -> str:
        return f"{self.family} ({self.setting})"

    # -- life of the stack -------------------------------------------------------------
    @abc.abstractmethod
    def start(self) -> str:
        """Start the stack on every node and wait until the service runs; its owner."""

    @abc.abstractmethod
    def start_node(self, node: str) -> None:
        """Start the stack's daemons in a node that has just booted."""

    @abc.abstractmethod
    def ready(self) -> str | None:
        """The service's owner if both nodes are in the cell and it runs, else None."""

    @abc.abstractmethod
    def owner(self) -> str | None:
        """The node that runs the service now, whatever the membership (None: nobody)."""

    @abc.abstractmethod
    def relocate(self, target: str) -> None:
        """Move the service to `target` the planned way; returns once it runs there."""

    @abc.abstractmethod
    def daemon_pids(self, node: str) -> list[int]:
        """Processes that make up the stack's daemon on `node` (not the service's)."""

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> str:
        """Wait until both nodes are in and the service runs; returns its owner."""
        return wait_for(self.ready, timeout, f"{self.label} ready", interval=0.2)

    def failover(self) -> Run:
        """Cut the owner's power while a client probes the service: the outage it saw.
        The same steps as tandem's `run_failover` (same probe, same fault, same end:
        the first answer after the client noticed the fault), for the peers."""
        owner = self.wait_ready()
        token = uuid.uuid4().hex[:12]
        self.put_content(owner, token)
        with HttpProbe(self.lab.control, service_vip(self.lab.config)) as probe:
            probe.wait_answer(0.0, 30.0, token)
            fault_at = time.time()
            self.lab.control.crash(owner)
            answer = probe.wait_recovery(fault_at, FAILOVER_TIMEOUT_S)
            samples = probe.snapshot()
        if answer is None:
            return Run(outage_ms=None, from_node=owner, to_node=None, fault_at=fault_at)
        return Run(outage_ms=outage_ms(samples, fault_at), from_node=owner,
                   to_node=self._new_owner(owner), fault_at=fault_at,
                   data_kept=token in answer.body)

    def _new_owner(self, old: str) -> str | None:
        """The node that runs the service after a takeover (its state may lag the
        client's first answer a little)."""
        def moved() -> str | None:
            now = self.owner()
            return now if now and now != old else None

        try:
            return wait_for(moved, NEW_OWNER_TIMEOUT_S, "new owner", interval=0.1)
        except WaitTimeout:
            return None

    def diagnose(self) -> str:
        """What the stack says about itself (for a failure report); best effort."""
        return ""

    def console_tail(self, node: str, lines: int = 12) -> str:
        try:
            text = self.lab.names.console_log(node).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def recover(self) -> str:
        """Bring every node that is off back (after a crash, or a wrongful fencing)."""
        for node in self.lab.nodes:
            if self.lab.control.power(node).power != "on":
                self.restore_node(node)
        return self.wait_ready()

    def restore_node(self, node: str) -> None:
        """Boot a node and start the stack on it, without waiting for the cell."""
        self.lab.control.power_on(node)
        self.start_node(node)

    def put_content(self, owner: str, token: str) -> None:
        """Write what the service serves (on the shared disk, through its owner)."""
        self.node_run(owner, ["sh", "-c",
                              f"echo {token} > {self.content_dir}/index.html && sync"])

    # -- helpers -------------------------------------------------------------------------
    def enter_argv(self, node: str, argv: Sequence[str]) -> list[str]:
        """The argv that runs `argv` in the node (as the stack's daemons see it)."""
        try:
            return self.lab.control.exec_argv(node, list(argv))
        except LabError as exc:
            raise BenchError(str(exc)) from None

    def node_run(self, node: str, argv: Sequence[str], *, timeout: float = 30.0,
                 check: bool = True, input_text: str | None = None,
                 ) -> subprocess.CompletedProcess[str]:
        """Run a command inside a node and capture its output."""
        full = self.enter_argv(node, argv)
        try:
            done = subprocess.run(full, capture_output=True, text=True, timeout=timeout,
                                  input=input_text, check=False)
        except subprocess.TimeoutExpired:
            raise BenchError(f"{node}: {' '.join(argv)} took more than {timeout:g} s") from None
        if check and done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
            raise BenchError(f"{node}: {' '.join(argv)} failed ({done.returncode}): "
                             f"{' '.join(tail) or 'no output'}")
        return done

    def node_spawn(self, node: str, argv: Sequence[str], log: str) -> int:
        """Start a daemon inside a node, detached, logging to the node's directory."""
        try:
            return spawn_detached(self.enter_argv(node, argv), self.log_path(node, log))
        except LabError as exc:
            raise BenchError(str(exc)) from None

    def log_path(self, node: str, log: str) -> Path:
        return self.lab.names.node_dir(node) / f"{log}.log"

    def node_pids(self, node: str, wanted: Callable[[str], bool]) -> list[int]:
        """Processes of `node` whose executable path satisfies `wanted`."""
        inode = netns_inode(self.lab.names.node_ns(node))
        if inode is None:
            return []
        found = []
        for pid in pids_in_netns(inode):
            try:
                exe = os.readlink(f"/proc/{pid}/exe")
            except OSError:
                continue
            if wanted(exe):
                found.append(pid)
        return sorted(found)
