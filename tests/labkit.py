"""Helpers for tests that build lab cells: configuration text, building and guaranteed
teardown, a check that nothing the lab made is left on the machine, and commands in a
node. The bounded wait and the daemons' status and timeline come from tandem.lab (the
benchmarks use the same ones) and are re-exported here."""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tandem.lab import san
from tandem.lab.builder import lab_down, lab_up
from tandem.lab.disks import loops_backed_by
from tandem.lab.names import LabNames
from tandem.lab.network import lab_namespaces
from tandem.lab.nodes import NodeControl
from tandem.lab.proc import netns_inode, pids_by_netns
from tandem.lab.query import node_events, node_status, states, tandem_in
from tandem.lab.state import LabRecord
from tandem.lab.wait import wait_for

__all__ = ["cell_config", "fence_levels", "host_links", "lab_inodes", "leftovers",
           "node_events", "node_lab", "node_status", "running_lab", "sh", "states",
           "stem_of", "tandem_in", "two_node_lab", "unique_lab_name", "wait_for"]

_counter = itertools.count(1)


def unique_lab_name(stem: str = "t") -> str:
    """A lab name no other test run uses at the same time."""
    return f"{stem}{os.getpid() % 100000}x{next(_counter)}"


def node_block(index: int, *, rings: int, bmc: bool, fence: str = "",
               bmc_net: bool = False) -> str:
    """The [[nodes]] entry of node `index` (1-based) in the standard test topology.

    With `bmc_net`, the BMCs sit on a network of their own (203.0.113.128/25, no
    heartbeats) and the backbone shrinks to 203.0.113.0/25."""
    backbone = 25 if bmc_net else 24
    lines = ["[[nodes]]", f'name = "node{index}"', f"id = {index}",
             f'networks.admin = {{ interface = "eth0", address = "198.51.100.{10 + index}/24" }}']
    if rings > 1:
        lines.append(f'networks.backbone = {{ interface = "eth1", '
                     f'address = "203.0.113.{10 + index}/{backbone}" }}')
    if bmc_net:
        lines.append(f'networks.bmc = {{ interface = "eth2", '
                     f'address = "203.0.113.{140 + index}/25" }}')
    if bmc:
        address = f"203.0.113.{200 + index}" if bmc_net else f"198.51.100.{100 + index}"
        lines.append(f'bmc = {{ address = "{address}", user = "admin", '
                     f'password = "lab-pass-{index}" }}')
    if fence:
        lines.append(fence)
    return "\n".join(lines) + "\n"


def fence_levels(nodes: int, preferred_delay_ms: int = 2000) -> dict[int, str]:
    """Fence levels through each node's BMC; fencing node1 waits (it wins races)."""
    levels = {i: 'fence = [ { devices = ["bmc"] } ]' for i in range(1, nodes + 1)}
    levels[1] = f'fence = [ {{ devices = ["bmc"], delay_ms = {preferred_delay_ms} }} ]'
    return levels


FENCE_DEVICES = '[fence_devices.bmc]\ntype = "ipmi"\ntimeout_s = 5\n'


def cell_config(name: str, *, nodes: int = 2, rings: int = 2, bmc: bool = True,
                disks: str = '[ { name = "shared", size = "64M", format = "ext4" } ]',
                private_dirs: str = '["/etc/HA"]', extra: str = "",
                node_extra: dict[int, str] | None = None, fencing: bool = False,
                bmc_net: bool = False, cluster_extra: str = "",
                timing: str = "heartbeat_ms = 100\ntoken_ms = 600\nfence_check_s = 2\n") -> str:
    """A complete cell configuration in the test topology (198.51.100.0/24 admin,
    203.0.113.0/24 backbone, BMCs at 198.51.100.10N). `fencing` adds an ipmi fence
    level per node (fencing node1 is delayed: it wins fence races)."""
    head = [f'[cluster]\nname = "{name}"\nkey_file = "/etc/tandem/cluster.key"\n'
            f"{cluster_extra}",
            f"[timing]\n{timing}",
            "[networks.admin]\nring = 0\n"]
    if rings > 1:
        head.append("[networks.backbone]\nring = 1\n")
    if bmc_net:
        head.append("[networks.bmc]\n")
    if fencing:
        head.append(FENCE_DEVICES)
    levels = fence_levels(nodes) if fencing else {}
    levels.update(node_extra or {})
    body = [node_block(i, rings=rings, bmc=bmc, fence=levels.get(i, ""), bmc_net=bmc_net)
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
    left += [f"FUSE mount {m}" for m in san.fuse_mounts_under(names.directory)]
    left += [f"FUSE server {pid}" for pid in san.server_pids(names.directory)]
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


@contextlib.contextmanager
def two_node_lab(tmp_path: Path, stem: str, *, start: bool = False,
                 **config: Any) -> Iterator[LabRecord]:
    """A lab of the standard test topology (`cell_config`), named after `stem`."""
    name = unique_lab_name(stem)
    with running_lab(tmp_path, cell_config(name, **config), name, start=start) as record:
        yield record


@contextlib.contextmanager
def node_lab(tmp_path: Path, stem: str, **config: Any) -> Iterator[NodeControl]:
    """`two_node_lab`, handed out as the NodeControl that runs commands in its nodes."""
    with two_node_lab(tmp_path, stem, **config) as record:
        yield NodeControl(record)


def stem_of(request: pytest.FixtureRequest) -> str:
    """A short lab name stem from the requesting test module (test_agent_fs -> agentf)."""
    module = request.module.__name__.rpartition(".")[2].removeprefix("test_")
    return module.replace("_", "")[:6] or "t"


def sh(control: NodeControl, node: str, script: str, check: bool = True,
       timeout: float = 60.0) -> str:
    """Run a shell script inside a node (or the client); its stdout. With `check`, a
    failing script fails the test, naming the node and the script."""
    done = subprocess.run(control.exec_argv(node, ["sh", "-c", script]), capture_output=True,
                          text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"{node}: {script!r} failed ({done.returncode}): {done.stderr}")
    return done.stdout
