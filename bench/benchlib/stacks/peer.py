"""Where the peers' daemons run in a lab node: a PID namespace of their own per boot.

Lab nodes share the machine's PID namespace, and the peers' tools were written for
machines of their own: resource agents that clean up "every process using a file
system" (fuser, ps, /proc scans) would see, and signal, every process of the machine.
So each node's peer stack runs in a fresh PID namespace (with its own /proc) inside the
node's network and mount namespaces; whatever the agents do, they only see the node.
The namespace's first process is a tiny reaper; a power loss kills it with the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from benchlib.errors import BenchError
from benchlib.labs import Lab
from benchlib.stacks.base import Say, Stack
from tandem.lab.proc import LabError, is_alive, spawn_detached
from tandem.lab.wait import wait_for

REAPER = ("import os, time\n"
          "while True:\n"
          "    try:\n"
          "        os.wait()\n"
          "    except ChildProcessError:\n"
          "        time.sleep(1)\n")


def _first_child(pid: int) -> int | None:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


class PeerStack(Stack):
    """A peer stack whose processes live in a PID namespace per node."""

    def __init__(self, lab: Lab, setting: str, say: Say) -> None:
        super().__init__(lab, setting, say)
        self._holders: dict[str, int] = {}

    def boot_namespace(self, node: str) -> None:
        """Create the node's PID namespace (with its /proc) for this boot."""
        argv = ["unshare", "--pid", "--fork", "--mount", "--mount-proc", "--propagation",
                "private", "--", "/usr/bin/python3", "-c", REAPER]
        try:
            pid = spawn_detached(self.lab.control.exec_argv(node, argv),
                                 self.log_path(node, "pidns"))
        except LabError as exc:
            raise BenchError(str(exc)) from None
        self._holders[node] = wait_for(lambda: _first_child(pid), 10.0,
                                       f"the PID namespace of {node}", interval=0.01)

    def enter_argv(self, node: str, argv: Sequence[str]) -> list[str]:
        holder = self._holders.get(node)
        if holder is None or not is_alive(holder):
            raise BenchError(f"{node}: its {self.family} namespace is gone (node down?)")
        return ["nsenter", "-t", str(holder), "-n", "-m", "-u", "-p", "--wd=/", "--",
                *argv]

    def node_is_up(self, node: str) -> bool:
        """True if the node has power and its stack's namespace still exists."""
        holder = self._holders.get(node)
        return (self.lab.control.power(node).power == "on" and holder is not None
                and is_alive(holder))
