"""Helpers for tests that build lab cells: configuration text, building and guaranteed
teardown, and a check that nothing the lab made is left on the machine."""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tandem.lab.builder import lab_down, lab_up
from tandem.lab.disks import loops_backed_by
from tandem.lab.names import LabNames
from tandem.lab.network import lab_namespaces
from tandem.lab.proc import netns_inode, pids_by_netns
from tandem.lab.state import LabRecord

_counter = itertools.count(1)


def unique_lab_name(stem: str = "t") -> str:
    """A lab name no other test run uses at the same time."""
    return f"{stem}{os.getpid() % 100000}x{next(_counter)}"


def node_block(index: int, *, rings: int, bmc: bool, fence: str = "") -> str:
    """The [[nodes]] entry of node `index` (1-based) in the standard test topology."""
    lines = ["[[nodes]]", f'name = "node{index}"', f"id = {index}",
             f'networks.admin = {{ interface = "eth0", address = "198.51.100.{10 + index}/24" }}']
    if rings > 1:
        lines.append(f'networks.backbone = {{ interface = "eth1", '
                     f'address = "203.0.113.{10 + index}/24" }}')
    if bmc:
        lines.append(f'bmc = {{ address = "198.51.100.{100 + index}", user = "admin", '
                     f'password = "lab-pass-{index}" }}')
    if fence:
        lines.append(fence)
    return "\n".join(lines) + "\n"


def cell_config(name: str, *, nodes: int = 2, rings: int = 2, bmc: bool = True,
                disks: str = '[ { name = "shared", size = "64M", format = "ext4" } ]',
                private_dirs: str = '["/etc/HA"]', extra: str = "",
                node_extra: dict[int, str] | None = None) -> str:
    """A complete cell configuration in the test topology (198.51.100.0/24 admin,
    203.0.113.0/24 backbone, BMCs at 198.51.100.10N)."""
    head = [f'[cluster]\nname = "{name}"\nkey_file = "/etc/tandem/cluster.key"\n',
            "[timing]\nheartbeat_ms = 100\ntoken_ms = 600\n",
            "[networks.admin]\nring = 0\n"]
    if rings > 1:
        head.append("[networks.backbone]\nring = 1\n")
    body = [node_block(i, rings=rings, bmc=bmc, fence=(node_extra or {}).get(i, ""))
            for i in range(1, nodes + 1)]
    lab = (f"[lab]\nprivate_dirs = {private_dirs}\n"
           f'client = {{ network = "admin", address = "198.51.100.250/24" }}\n'
           f"disks = {disks}\n")
    return "\n".join([*head, extra, *body, lab])


def host_links() -> set[str]:
    """Interface names in the host namespace."""
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True)
    return {line.split(":")[1].strip().split("@")[0] for line in out.stdout.splitlines()}


def leftovers(name: str, inodes: set[int]) -> list[str]:
    """Everything of lab `name` that still exists (empty when cleanup was complete)."""
    names = LabNames(name)
    left = [f"namespace {ns}" for ns in lab_namespaces(names.prefix)]
    left += [f"loop {dev}" for dev in loops_backed_by(names.directory)]
    left += [f"process {pid}" for pid, _ in pids_by_netns(inodes)]
    if names.directory.exists():
        left.append(f"directory {names.directory}")
    return left


def lab_inodes(name: str) -> set[int]:
    """Network namespace inodes of every namespace of the lab (to find its processes)."""
    found = (netns_inode(ns) for ns in lab_namespaces(LabNames(name).prefix))
    return {inode for inode in found if inode is not None}


@contextlib.contextmanager
def running_lab(tmp_path: Path, config_text: str, name: str, *,
                start: bool = False) -> Iterator[LabRecord]:
    """Build a lab, yield its record, and always remove it; fail if anything is left."""
    path = tmp_path / f"{name}.toml"
    path.write_text(config_text)
    links_before = host_links()
    inodes: set[int] = set()
    try:
        record = lab_up(str(path), name, start=start)
        inodes = lab_inodes(name)
        yield record
    finally:
        inodes |= lab_inodes(name)
        lab_down(name)
        left = leftovers(name, inodes)
        new_links = host_links() - links_before
        assert not left, f"lab {name} left behind: {left}"
        assert not new_links, f"lab {name} left host interfaces: {new_links}"
