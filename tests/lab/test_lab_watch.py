"""The watches in a real lab: the split-brain watch sees a deliberate double mount and a
duplicated address while it runs in the background, and nothing while the lab is
healthy; the holder watch sees a service held in two nodes, by a dummy resource's state
file or by a marked process. (tests/unit/test_watch_checks.py checks the rest.)"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from labkit import sh, wait_for
from tandem.lab.holders import HolderSpec
from tandem.lab.nodes import NodeControl
from tandem.lab.watch import HolderWatch, SplitBrainWatch, Watch

pytestmark = pytest.mark.lab


def wait_samples(watch: Watch[Any], more: int) -> None:
    target = watch.samples + more
    wait_for(lambda: watch.samples >= target, 10, f"{more} more samples of the watch")


def test_watch_detects_double_mount_and_duplicate_address(control: NodeControl) -> None:
    with SplitBrainWatch(control.record.name, interval_s=0.02) as watch:
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
        sh(control, "node1", "umount /mnt/w; ip addr del 198.51.100.60/24 dev eth0")
        wait_samples(watch, 2)
    Path("/mnt/w").rmdir()
    kinds = {(v.kind, v.subject, v.nodes) for v in watch.violations}
    assert kinds == {("double-mount", "shared", ("node1", "node2")),
                     ("duplicate-address", "198.51.100.60", ("node1", "node2"))}
    assert all(v.samples >= 2 for v in watch.violations)
    assert watch.health() is None, watch.summary()
    with pytest.raises(AssertionError, match="double-mount"):
        watch.assert_clean()


def test_watch_sees_mounts_of_private_mount_namespaces(control: NodeControl) -> None:
    """A process inside a node that made its own mount namespace still counts."""
    sh(control, "node1", "mkdir -p /mnt/p && mount /dev/tandem/shared /mnt/p")
    argv = control.exec_argv("node2", [
        "unshare", "--mount", "--propagation", "private", "sh", "-c",
        "mount /dev/tandem/shared /mnt/p && exec sleep 30"])
    sneaky = subprocess.Popen(argv)
    watch = SplitBrainWatch(control.record.name)
    try:
        wait_for(watch.check_now, 10, "the watch to see node2's private mount")
        assert [v.kind for v in watch.violations] == ["double-mount"]
    finally:
        watch.stop()
        sneaky.kill()
        sneaky.wait()
        sh(control, "node1", "umount /mnt/p")
        Path("/mnt/p").rmdir()


def test_holder_watch_sees_a_service_held_twice(control: NodeControl) -> None:
    specs = [HolderSpec("web", dummy_resource="web-daemon"),
             HolderSpec("rec", process_mark="holder-mark-rec")]
    marked = "exec -a holder-mark-rec sleep 30"
    with HolderWatch(control.record.name, specs, interval_s=0.02) as watch:
        sh(control, "node1", "mkdir -p /run/tandem/dummy && touch /run/tandem/dummy/web-daemon")
        running = [subprocess.Popen(control.exec_argv("node1", ["bash", "-c", marked]))]
        try:
            wait_for(lambda: watch.holders() == {"web": ["node1"], "rec": ["node1"]}, 10,
                     "node1 to hold both services")
            wait_samples(watch, 3)
            watch.assert_clean()
            sh(control, "node2", "mkdir -p /run/tandem/dummy && "
                                 "touch /run/tandem/dummy/web-daemon")
            running.append(subprocess.Popen(control.exec_argv("node2", ["bash", "-c", marked])))
            wait_for(lambda: {v.subject for v in watch.snapshot()} == {"web", "rec"}, 10,
                     "the holder watch to see both services held twice")
        finally:
            for proc in running:
                proc.kill()
                proc.wait()
            for node in ("node1", "node2"):
                sh(control, node, "rm -f /run/tandem/dummy/web-daemon")
    assert {(v.kind, v.nodes) for v in watch.violations} == {
        ("double-holder", ("node1", "node2"))}
    assert watch.health() is None, watch.summary()
