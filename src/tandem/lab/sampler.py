"""Look at every node of a lab at once: which shared disks each one has mounted and
which addresses each one carries. Used by `tandem lab status` and by the split-brain
watch, so both see the same truth.

Mounts are read from /proc/PID/mountinfo of one process per distinct mount namespace
found in the node's network namespace (a process that made a private mount namespace
inside a node still counts as that node). Addresses come from a netlink socket opened
inside each node's namespace and kept open between samples.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from dataclasses import dataclass, field

from pyroute2 import IPRoute

from tandem.config import ClusterConfig
from tandem.lab import network as net
from tandem.lab.names import LabNames
from tandem.lab.proc import mount_ns_of, netns_inode, pids_by_netns
from tandem.lab.state import LabRecord


@dataclass(frozen=True)
class MountSeen:
    """A shared disk mounted in a node."""

    disk: str
    mountpoint: str


@dataclass
class Sample:
    """One consistent look at the lab."""

    mounts: dict[str, list[MountSeen]] = field(default_factory=dict)
    addresses: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)


class LabSampler:
    """Reads mounts and addresses of every node of a lab, cheaply and repeatedly."""

    def __init__(self, record: LabRecord, config: ClusterConfig) -> None:
        self.names = LabNames(record.name)
        self.nodes = [n.name for n in config.nodes]
        # A san disk has one device per node (its path); any of them is the disk.
        self.devices = {number: d.name for d in record.disks for number in d.devices()}
        self._sockets: dict[str, IPRoute] = {}

    def close(self) -> None:
        for sock in self._sockets.values():
            with contextlib.suppress(OSError):
                sock.close()
        self._sockets.clear()

    def __enter__(self) -> LabSampler:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def sample(self) -> Sample:
        return Sample(mounts=self.mounts(), addresses=self.addresses())

    def mounts(self) -> dict[str, list[MountSeen]]:
        """Shared disks mounted in each node."""
        inodes = {}
        for node in self.nodes:
            inode = netns_inode(self.names.node_ns(node))
            if inode is not None:
                inodes[inode] = node
        readers: dict[tuple[str, int], int] = {}
        for pid, inode in pids_by_netns(set(inodes)):
            mnt = mount_ns_of(pid)
            if mnt is not None:
                readers.setdefault((inodes[inode], mnt), pid)
        found: dict[str, set[MountSeen]] = defaultdict(set)
        for (node, _), pid in readers.items():
            found[node].update(self._disk_mounts(pid))
        return {node: sorted(found.get(node, set()), key=lambda m: (m.disk, m.mountpoint))
                for node in self.nodes}

    def _disk_mounts(self, pid: int) -> list[MountSeen]:
        try:
            with open(f"/proc/{pid}/mountinfo", encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            return []
        seen = []
        for line in lines:
            fields = line.split()
            major, minor = (int(x) for x in fields[2].split(":"))
            disk = self.devices.get((major, minor))
            if disk is not None:
                seen.append(MountSeen(disk, fields[4].replace("\\040", " ")))
        return seen

    def addresses(self) -> dict[str, list[tuple[str, str, int]]]:
        """Global addresses configured in each node."""
        result = {}
        for node in self.nodes:
            sock = self._socket(node)
            try:
                result[node] = net.list_addresses(sock) if sock else []
            except OSError:
                self._sockets.pop(node, None)
                result[node] = []
        return result

    def _socket(self, node: str) -> IPRoute | None:
        if node not in self._sockets:
            try:
                self._sockets[node] = IPRoute(netns=self.names.node_ns(node))
            except OSError:
                return None
        return self._sockets[node]
