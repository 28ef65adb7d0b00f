"""Who holds each service of a lab, seen from outside the engine: the sampler behind the
holder watch, which does not trust what the daemons say.

A node holds a service while a process whose command line carries the service's mark
lives in the node's network namespace (a stopped one counts: a hung node still holds
what it ran), or while the state file of one of its `dummy` resources exists in the
node's private /run/tandem (read through /proc/INIT/root: the node's own tmpfs is not
visible from the host, and a node that is off has no init process and holds nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tandem.config import ClusterConfig
from tandem.lab.names import LabNames
from tandem.lab.proc import netns_inode, pids_by_netns
from tandem.lab.state import LabRecord, PowerRecord

DUMMY_DIR = "run/tandem/dummy"
Holders = dict[str, list[str]]  # service -> nodes holding it (sorted)


@dataclass(frozen=True)
class HolderSpec:
    """How to see that a node holds `service`: a process whose command line contains
    `process_mark`, or the state file of the dummy resource `dummy_resource`."""

    service: str
    process_mark: str = ""
    dummy_resource: str = ""


class HolderSampler:
    """Reads, for every service of `specs`, which nodes of a lab hold it now."""

    def __init__(self, record: LabRecord, config: ClusterConfig,
                 specs: list[HolderSpec]) -> None:
        self.names = LabNames(record.name)
        self.nodes = [n.name for n in config.nodes]
        self.specs = list(specs)

    def sample(self) -> Holders:
        found: dict[str, set[str]] = {s.service: set() for s in self.specs}
        for service, node in self._by_process():
            found[service].add(node)
        for node in self.nodes:
            init = PowerRecord.load(self.names.power_file(node)).init_pid
            if not init:
                continue
            for spec in self.specs:
                if spec.dummy_resource and Path(
                        f"/proc/{init}/root/{DUMMY_DIR}/{spec.dummy_resource}").exists():
                    found[spec.service].add(node)
        return {service: sorted(nodes) for service, nodes in found.items()}

    def _by_process(self) -> list[tuple[str, str]]:
        marks = {s.process_mark: s.service for s in self.specs if s.process_mark}
        if not marks:
            return []
        inodes = {inode: node for node in self.nodes
                  if (inode := netns_inode(self.names.node_ns(node))) is not None}
        seen = []
        for pid, inode in pids_by_netns(set(inodes)):
            line = cmdline(pid)
            seen += [(service, inodes[inode]) for mark, service in marks.items()
                     if mark in line]
        return seen

    def close(self) -> None:
        """Nothing is kept open between samples."""


def cmdline(pid: int) -> str:
    """A process's command line, words joined by spaces ("" once it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
