"""Names and paths of everything a lab creates.

All names derive from the lab name, so that `tandem lab down` can find and remove what
a lab made even when its state file was never written (a crash half-way through `up`).
Lab, node and network names cannot contain dots, so the dotted namespace names of two
labs can never be confused (`tl.a.node1` vs `tl.a-b.node1`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

LAB_NAME_RE = r"[A-Za-z0-9][A-Za-z0-9_-]{0,23}"
NETNS_PREFIX = "tl."
NETNS_DIR = Path("/run/netns")
DISK_DIR_IN_NODE = "/dev/tandem"


def lab_root() -> Path:
    """Directory that holds every lab's files (override with TANDEM_LAB_ROOT)."""
    return Path(os.environ.get("TANDEM_LAB_ROOT", "/var/lib/tandem-lab"))


def check_lab_name(name: str) -> str:
    """Return `name` if it is usable as a lab name, else raise ValueError."""
    if not re.fullmatch(LAB_NAME_RE, name):
        raise ValueError(f"invalid lab name {name!r}: use letters, digits, '-' or '_' "
                         f"(at most 24 characters)")
    return name


class LabNames:
    """Every name and path that belongs to one lab."""

    def __init__(self, lab: str) -> None:
        self.lab = check_lab_name(lab)

    @property
    def prefix(self) -> str:
        """Prefix shared by all of this lab's network namespaces."""
        return f"{NETNS_PREFIX}{self.lab}."

    @property
    def directory(self) -> Path:
        return lab_root() / self.lab

    @property
    def state_file(self) -> Path:
        return self.directory / "lab.json"

    @property
    def fabric_ns(self) -> str:
        """Namespace holding the lab's bridges (never the host's)."""
        return f"{self.prefix}_fabric"

    @property
    def client_ns(self) -> str:
        return f"{self.prefix}_client"

    def node_ns(self, node: str) -> str:
        return f"{self.prefix}{node}"

    def bmc_ns(self, node: str) -> str:
        return f"{self.prefix}_bmc.{node}"

    def node_dir(self, node: str) -> Path:
        """Persistent per-node files: its private directories and its console log."""
        return self.directory / "nodes" / node

    def node_root(self, node: str) -> Path:
        """Backing store of a node's private directories (its "local disk")."""
        return self.node_dir(node) / "root"

    def console_log(self, node: str) -> Path:
        return self.node_dir(node) / "console.log"

    def power_file(self, node: str) -> Path:
        return self.node_dir(node) / "power.json"

    def disk_file(self, disk: str) -> Path:
        return self.directory / "disks" / f"{disk}.img"

    def bmc_log(self, node: str) -> Path:
        return self.node_dir(node) / "bmc.log"

    @staticmethod
    def disk_path_in_node(disk: str) -> str:
        """Stable path of a shared disk inside every node of the lab."""
        return f"{DISK_DIR_IN_NODE}/{disk}"


def bridge_name(net_index: int) -> str:
    return f"br{net_index}"


def node_port(node_id: int, net_index: int) -> str:
    """Fabric-side end of a node's veth on a network (at most 15 characters)."""
    return f"n{node_id}p{net_index}"


def bmc_port(node_id: int) -> str:
    return f"b{node_id}"


CLIENT_PORT = "client0"
BMC_IFNAME = "eth0"
CLIENT_IFNAME = "eth0"


def existing_labs() -> list[str]:
    """Names of labs that have a directory or a namespace on this machine."""
    names: set[str] = set()
    root = lab_root()
    if root.is_dir():
        names.update(p.name for p in root.iterdir() if p.is_dir())
    if NETNS_DIR.is_dir():
        for entry in NETNS_DIR.iterdir():
            if entry.name.startswith(NETNS_PREFIX):
                names.add(entry.name[len(NETNS_PREFIX):].split(".", 1)[0])
    return sorted(names)
