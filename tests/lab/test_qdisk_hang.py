"""A quorum disk that stops answering, for real: the quorum disk is a loop device (direct
I/O) over a file on an ext4 file system of its own; freezing that file system
(fsfreeze) makes every write to the quorum disk wait in the kernel. The runner must say
"not answering" without ever blocking snapshot() or stop(), and recover on thaw.

Needs root (loop devices, mount, fsfreeze) but no network: everything is local and
removed afterwards, thawed first so that nothing stays stuck."""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from labkit import wait_for
from tandem.lab.disks import loops_backed_by
from tandem.quorum.qdisk.config import QdiskDef
from tandem.quorum.qdisk.device import QdiskDevice, init_disk
from tandem.quorum.qdisk.runner import QuorumDisk

pytestmark = pytest.mark.lab
T = TypeVar("T")


def run(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{argv}: {done.stderr}"
    return done.stdout.strip()


@contextlib.contextmanager
def freezable_disk(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(quorum disk device, mount point whose freeze hangs the disk's writes)."""
    with contextlib.ExitStack() as undo:
        outer_file = tmp_path / "outer.img"
        with open(outer_file, "wb") as handle:
            handle.truncate(64 << 20)
        run("mkfs.ext4", "-q", "-F", str(outer_file))
        outer = run("losetup", "--find", "--show", str(outer_file))
        undo.callback(run, "losetup", "--detach", outer)
        mnt = tmp_path / "mnt"
        mnt.mkdir()
        run("mount", outer, str(mnt))
        undo.callback(run, "umount", str(mnt))
        inner_file = mnt / "qdisk.img"
        with open(inner_file, "wb") as handle:
            handle.truncate(1 << 20)
        inner = run("losetup", "--find", "--show", "--direct-io=on", str(inner_file))
        undo.callback(run, "losetup", "--detach", inner)
        undo.callback(subprocess.run, ["fsfreeze", "--unfreeze", str(mnt)],
                      capture_output=True, timeout=60)  # thaw first (callbacks run LIFO)
        yield inner, mnt


def promptly(call: Callable[[], T], what: str) -> T:
    """Run `call` in a helper thread; fail (instead of hanging the test) if it blocks."""
    box: list[T] = []
    helper = threading.Thread(target=lambda: box.append(call()), daemon=True)
    helper.start()
    helper.join(30)
    assert box, f"{what} blocked"
    return box[0]


def test_a_frozen_disk_is_not_answering_and_nothing_blocks(tmp_path: Path) -> None:
    with freezable_disk(tmp_path) as (device, mnt):
        init_disk(device, "hang-qd", max_nodes=2)
        runner = QuorumDisk(QdiskDef(device=device, interval_ms=100, tko=6), 1)
        runner.start()
        try:
            wait_for(lambda: runner.snapshot().i_am_master, 30, "node 1 master")
            run("fsfreeze", "--freeze", str(mnt))
            try:
                wait_for(lambda: "not answering" in promptly(runner.snapshot,
                                                             "snapshot()").error,
                         30, "the disk reported not answering")
                view = runner.snapshot()
                assert (view.available, view.i_am_master, view.master, view.votes) == \
                    (False, False, None, 0)
            finally:
                run("fsfreeze", "--unfreeze", str(mnt))
            wait_for(lambda: runner.snapshot().i_am_master, 60, "node 1 master again")

            run("fsfreeze", "--freeze", str(mnt))
            try:
                wait_for(lambda: not runner.snapshot().available, 30, "not answering again")
                assert promptly(lambda: runner.stop(timeout=0.5), "stop()") is False
                assert runner.snapshot().error == "stopped"
            finally:
                run("fsfreeze", "--unfreeze", str(mnt))
            assert runner.stop(timeout=30), "the runner thread did not end after the thaw"
        finally:
            with contextlib.suppress(Exception):
                run("fsfreeze", "--unfreeze", str(mnt))
            runner.stop(timeout=30)
        with QdiskDevice(device, writable=False) as dev:
            slot = dev.read_image().record(1).slot
        assert slot is not None and slot.state.name == "STOPPED"
    # Detaching a loop device that was just in use completes a moment later.
    wait_for(lambda: not loops_backed_by(tmp_path), 30, "the loop devices to be released")
