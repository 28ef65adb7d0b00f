"""The `lustre_target` agent for real in a lab cell, with ext4 + MMP standing in for
ldiskfs and the lab's `lctl` stand-in (tandem.lab.lctl) for Lustre's health answers.

One image file made with `mkfs.ext4 -O mmp -E mmp_update_interval=1`, labelled as the
target, and two loop devices over it: node1's path and node2's path to the same disk,
as on a SAN. The kernel's multiple-mount protection then works between the nodes as it
does between two servers: a second mount waits and is refused while the first holder
lives; after a holder lost power (its last sequence left in the MMP block) a mount
waits the MMP interval out and succeeds within the agent's computed start timeout.
Monitor fails on NOT HEALTHY and on an lctl that hangs."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentkit import ERR_GENERIC, NOT_RUNNING, SUCCESS, Outcome, agent, contract
from labkit import node_lab, sh, stem_of
from tandem.hpc.lustre import mmp
from tandem.hpc.lustre.target import HEALTH_TIMEOUT_S, start_timeout_s
from tandem.lab.nodes import NodeControl

pytestmark = pytest.mark.lab

TARGET = "fs1-OST0000"
BIN = "/usr/local/sbin"  # private to each node of this module's lab
LCTL_STATE = "/run/tandem/lctl"
LCTL = f'#!/bin/sh\nexec {sys.executable} -m tandem.lab.lctl "$@"\n'


@pytest.fixture(scope="module")
def control(tmp_path_factory: pytest.TempPathFactory,
            request: pytest.FixtureRequest) -> Iterator[NodeControl]:
    """The module's lab, with the lctl stand-in in each node's PATH."""
    stem = stem_of(request)
    with node_lab(tmp_path_factory.mktemp(stem), stem, bmc=False,
                  private_dirs=f'["/etc/HA", "{BIN}"]') as made:
        for node in ("node1", "node2"):
            sh(made, node, f"cat > {BIN}/lctl <<'EOF'\n{LCTL}EOF\nchmod +x {BIN}/lctl")
        yield made


@dataclass(frozen=True)
class Disk:
    """The target's image and each node's loop device over it."""

    image: Path
    paths: dict[str, str]
    mountpoint: str

    def params(self, node: str, *extra: str) -> tuple[str, ...]:
        return (f"device={self.paths[node]}", f"mountpoint={self.mountpoint}",
                f"target={TARGET}", "fstype=ext4", *extra)


def attach(image: Path) -> str:
    done = subprocess.run(["losetup", "--find", "--show", "--direct-io=on", str(image)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        done = subprocess.run(["losetup", "--find", "--show", str(image)],
                              capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture()
def disk(control: NodeControl, tmp_path: Path) -> Iterator[Disk]:
    """A fresh target; afterwards nothing of it stays mounted or attached, and the lctl
    markers are gone."""
    image = tmp_path / "ost0.img"
    subprocess.run(["truncate", "-s", "32M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-O", "mmp", "-E", "mmp_update_interval=1",
                    "-L", TARGET, str(image)], check=True, capture_output=True)
    paths: dict[str, str] = {}
    try:
        for node in ("node1", "node2"):
            paths[node] = attach(image)
        yield Disk(image, paths, str(tmp_path / "ost0"))
    finally:
        for node in ("node1", "node2"):
            sh(control, node, f"rm -rf {LCTL_STATE}", check=False)
            for line in sh(control, node, "cat /proc/self/mountinfo").splitlines():
                fields = line.split()
                if fields[fields.index("-") + 2] in paths.values():
                    sh(control, node, f"umount -l {fields[4]}", check=False)
        for loop in paths.values():
            subprocess.run(["losetup", "-d", loop], check=False)


def run(control: NodeControl, node: str, action: str, disk: Disk, *extra: str) -> Outcome:
    return agent(control, node, "lustre_target", action, *disk.params(node, *extra),
                 resource="ost0")


def leave_mmp_of_crashed_holder(image: Path, node: str) -> None:
    """The MMP block as a holder leaves it when it loses power: a live sequence, never
    replaced by the clean value an unmount writes (with a valid checksum)."""
    sb = mmp.read_superblock(str(image))
    at = sb.mmp_block * sb.block_size
    with open(image, "r+b") as handle:
        handle.seek(at)
        raw = bytearray(handle.read(1024))
        mmp.MMP_HEAD.pack_into(raw, 0, mmp.MMP_MAGIC, 1234, int(time.time()) - 1,
                               node.encode(), b"loop9", 5)
        assert sb.csum_seed is not None
        struct.pack_into("<I", raw, mmp.MMP_CHECKSUM_AT,
                         mmp.crc32c(bytes(raw[:mmp.MMP_CHECKSUM_AT]), sb.csum_seed))
        handle.seek(at)
        handle.write(raw)
        os.fsync(handle.fileno())


def lctl_processes() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"tandem.lab.lctl" in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_contract_health_and_the_lctl_stand_in(control: NodeControl, disk: Disk) -> None:
    witness = f"grep -q ' {disk.mountpoint} ' /proc/self/mountinfo"
    contract(control, "node1", "lustre_target", *disk.params("node1"), resource="ost0",
             witness=witness)
    assert run(control, "node1", "start", disk).code == SUCCESS
    assert run(control, "node1", "monitor", disk) == Outcome(SUCCESS, "healthy")
    listed = sh(control, "node1", "lctl dl")
    assert re.search(rf"^\s*1 UP obdfilter {TARGET} {TARGET}_UUID \d+$", listed, re.M)
    assert sh(control, "node2", "lctl dl") == ""  # not mounted there
    assert sh(control, "node1", "lctl get_param obdfilter.*.recovery_status") == \
        f"obdfilter.{TARGET}.recovery_status=status: INACTIVE\n"

    sh(control, "node1", f"mkdir -p {LCTL_STATE} && echo 'NOT HEALTHY' > {LCTL_STATE}/health")
    outcome = run(control, "node1", "monitor", disk)
    assert outcome.code == ERR_GENERIC and "health_check says 'NOT HEALTHY'" in outcome.message
    assert run(control, "node1", "status", disk).code == SUCCESS  # status: the mount only
    assert run(control, "node2", "monitor", disk).code == NOT_RUNNING

    sh(control, "node1", f"rm {LCTL_STATE}/health && echo 600 > {LCTL_STATE}/hang")
    started = time.monotonic()
    outcome = run(control, "node1", "monitor", disk)
    took = time.monotonic() - started
    assert outcome.code == ERR_GENERIC, outcome
    assert f"did not answer within {HEALTH_TIMEOUT_S:g} s" in outcome.message
    assert took < 20, f"the monitor took {took:.1f} s, past its own timeout"
    assert not lctl_processes(), "the hung lctl survived the monitor"
    sh(control, "node1", f"rm {LCTL_STATE}/hang")
    assert run(control, "node1", "monitor", disk).code == SUCCESS
    assert run(control, "node1", "stop", disk).code == SUCCESS


def test_mmp_refuses_the_second_node_while_the_first_holds_it(
        control: NodeControl, disk: Disk) -> None:
    assert run(control, "node1", "start", disk).code == SUCCESS
    started = time.monotonic()
    outcome = run(control, "node2", "start", disk)
    refused_after = time.monotonic() - started
    print(f"\nsecond mount refused by MMP after {refused_after:.1f} s")
    assert outcome.code == ERR_GENERIC, outcome
    loop1 = os.path.basename(disk.paths["node1"])
    assert f"(MMP: last written by {os.uname().nodename} through {loop1}" in outcome.message
    assert disk.mountpoint not in sh(control, "node2", "cat /proc/self/mountinfo")
    assert run(control, "node1", "monitor", disk).code == SUCCESS  # the holder kept it
    report = mmp.read_mmp(disk.paths["node2"])
    assert report is not None and report.state == "in use" and report.checksum_ok
    assert run(control, "node1", "stop", disk).code == SUCCESS
    # Released cleanly: the other node takes it without waiting.
    started = time.monotonic()
    assert run(control, "node2", "start", disk).code == SUCCESS
    print(f"mount of a clean device took {time.monotonic() - started:.1f} s")
    assert run(control, "node2", "stop", disk).code == SUCCESS


def test_start_after_a_power_loss_waits_for_mmp(control: NodeControl, disk: Disk) -> None:
    leave_mmp_of_crashed_holder(disk.image, "node1")
    started = time.monotonic()
    outcome = run(control, "node2", "start", disk)
    took = time.monotonic() - started
    print(f"\nmount after a crashed holder took {took:.1f} s "
          f"(start timeout {start_timeout_s(0):g} s): {outcome.message}")
    assert outcome.code == SUCCESS, outcome  # so within the computed start timeout
    waited = re.search(r"after ([\d.]+) s of MMP wait \(last holder node1\)", outcome.message)
    assert waited and float(waited.group(1)) >= 2 * 11 - 1, outcome.message  # 2 x (2 x 5 + 1)
    assert run(control, "node2", "monitor", disk).code == SUCCESS
    report = mmp.read_mmp(disk.paths["node1"])
    assert report is not None and report.holder == os.uname().nodename
    assert run(control, "node2", "stop", disk).code == SUCCESS
