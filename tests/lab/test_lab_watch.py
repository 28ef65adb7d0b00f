"""The split-brain watch sees a deliberate double mount and a duplicated address while
it runs in the background, and nothing while the lab is healthy."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from labkit import cell_config, running_lab, unique_lab_name
from tandem.lab.nodes import NodeControl
from tandem.lab.watch import SplitBrainWatch

pytestmark = pytest.mark.lab


def sh(control: NodeControl, node: str, script: str) -> None:
    subprocess.run(control.exec_argv(node, ["sh", "-c", script]), check=True, timeout=30)


def wait_samples(watch: SplitBrainWatch, more: int) -> None:
    target = watch.samples + more
    deadline = time.monotonic() + 10
    while watch.samples < target and time.monotonic() < deadline:
        time.sleep(0.01)
    assert watch.samples >= target, "the watch stopped sampling"


def test_watch_detects_double_mount_and_duplicate_address(tmp_path: Path) -> None:
    name = unique_lab_name("watch")
    with running_lab(tmp_path, cell_config(name, bmc=False), name) as record:
        control = NodeControl(record)
        with SplitBrainWatch(record.name, interval_s=0.02) as watch:
            # A healthy lab with one owner of the disk and of the address: nothing seen.
            sh(control, "node1", "mkdir -p /mnt/w && mount /dev/tandem/shared /mnt/w")
            sh(control, "node1", "ip addr add 198.51.100.60/24 dev eth0")
            wait_samples(watch, 5)
            watch.assert_clean()
            # The split brain: node2 mounts the same disk and takes the same address.
            sh(control, "node2", "mount /dev/tandem/shared /mnt/w")
            sh(control, "node2", "ip addr add 198.51.100.60/24 dev eth0")
            wait_samples(watch, 3)
            sh(control, "node2", "umount /mnt/w; ip addr del 198.51.100.60/24 dev eth0")
            sh(control, "node1", "umount /mnt/w")
            wait_samples(watch, 2)
        Path("/mnt/w").rmdir()
        kinds = {(v.kind, v.subject, v.nodes) for v in watch.violations}
        assert kinds == {("double-mount", "shared", ("node1", "node2")),
                         ("duplicate-address", "198.51.100.60", ("node1", "node2"))}
        assert all(v.samples >= 2 for v in watch.violations)
        with pytest.raises(AssertionError, match="double-mount"):
            watch.assert_clean()


def test_watch_sees_mounts_of_private_mount_namespaces(tmp_path: Path) -> None:
    """A process inside a node that made its own mount namespace still counts."""
    name = unique_lab_name("watchns")
    with running_lab(tmp_path, cell_config(name, bmc=False), name) as record:
        control = NodeControl(record)
        sh(control, "node1", "mkdir -p /mnt/p && mount /dev/tandem/shared /mnt/p")
        argv = control.exec_argv("node2", [
            "unshare", "--mount", "--propagation", "private", "sh", "-c",
            "mount /dev/tandem/shared /mnt/p && exec sleep 30"])
        sneaky = subprocess.Popen(argv)
        try:
            watch = SplitBrainWatch(record.name)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not watch.check_now():
                time.sleep(0.05)
            assert [v.kind for v in watch.violations] == ["double-mount"]
            watch.stop()
        finally:
            sneaky.kill()
            sneaky.wait()
            sh(control, "node1", "umount /mnt/p")
            Path("/mnt/p").rmdir()
