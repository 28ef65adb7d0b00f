"""The `fs` agent on the lab's shared disk: the busy-unmount escalation signals exactly
the processes that use the mount (by cwd, open file, or ignoring SIGTERM until SIGKILL)
and spares the others, also a process in the other node at the same path; the lazy
unmount as a last resort, and as a failed stop when the device stays held; refusing a
second mount of the device; a mount that turned read-only; fsck before mounting."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentkit import (
    ERR_GENERIC,
    NOT_RUNNING,
    SUCCESS,
    Background,
    agent,
    background,
)
from labkit import sh, wait_for
from tandem.lab.nodes import NodeControl
from tandem.resources.proctab import is_running

pytestmark = pytest.mark.lab

DEVICE = "device=/dev/tandem/shared"
_counter = itertools.count()


@pytest.fixture()
def where(tmp_path: Path) -> Iterator[str]:
    """A fresh mount point (on the host file system, so every node sees the directory)."""
    path = tmp_path / f"mnt{next(_counter)}"
    yield str(path)


@pytest.fixture()
def procs(control: NodeControl, tmp_path: Path) -> Iterator[Background]:
    with background(control, tmp_path) as started:
        yield started


@pytest.fixture(autouse=True)
def released(control: NodeControl) -> Iterator[None]:
    """Whatever a test leaves mounted is unmounted (lazily if need be) in every node."""
    yield
    for node in ("node1", "node2"):
        for line in sh(control, node, "cat /proc/self/mountinfo").splitlines():
            point = line.split()[4]
            if "/mnt" in point and "pytest" in point:
                sh(control, node, f"umount -l {point}", check=False)


def fs(control: NodeControl, node: str, action: str, where: str, *extra: str) -> tuple[int, str]:
    outcome = agent(control, node, "fs", action, DEVICE, f"mountpoint={where}",
                    "fstype=ext4", *extra)
    return outcome.code, outcome.message


def test_busy_unmount_signals_only_the_users(control: NodeControl, where: str,
                                             procs: Background) -> None:
    assert fs(control, "node1", "start", where)[0] == SUCCESS
    sh(control, "node1", f"echo kept > {where}/data")
    in_cwd = procs.start("node1", f"cd {where} && touch $READY && exec sleep 600")
    with_file = procs.start("node1", f"exec 3<{where}/data; touch $READY; exec sleep 600")
    stubborn = procs.start("node1", "exec python3 -c \"import os, signal, time; "
                                    "signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                                    f"os.chdir('{where}'); open(os.environ['READY'], 'w'); "
                                    "time.sleep(600)\"")
    bystander = procs.start("node1", "cd / && touch $READY && exec sleep 600")
    elsewhere = procs.start("node2", f"cd {where} && touch $READY && exec sleep 600")
    code, message = fs(control, "node1", "stop", where, "kill_wait_s=0.5")
    assert code == SUCCESS, message
    assert "SIGTERM to pid" in message and "SIGKILL to pid" in message, message
    assert f"{stubborn.pid}" in message.split("SIGKILL")[1]
    for ref in (in_cwd, with_file, stubborn):
        assert not is_running(ref), f"pid {ref.pid} uses the mount and survived"
    assert is_running(bystander), "a process of node1 outside the mount was killed"
    assert is_running(elsewhere), "a process of node2 at the same path was killed"
    assert fs(control, "node1", "status", where)[0] == NOT_RUNNING
    # The next owner finds the data.
    assert fs(control, "node2", "start", where)[0] == SUCCESS
    assert sh(control, "node2", f"cat {where}/data") == "kept\n"
    assert fs(control, "node2", "stop", where)[0] == SUCCESS


def test_lazy_unmount_as_the_last_resort(control: NodeControl, where: str) -> None:
    assert fs(control, "node1", "start", where)[0] == SUCCESS
    # A mount inside keeps it busy, and no process can be signalled about it.
    sh(control, "node1", f"mkdir -p {where}/inner && mount -t tmpfs inner {where}/inner")
    code, message = fs(control, "node1", "stop", where)
    assert code == SUCCESS and message.startswith("LAZY unmount"), message
    assert where not in sh(control, "node1", "cat /proc/self/mountinfo")
    # The device was really released: the other node may mount it.
    assert fs(control, "node2", "start", where)[0] == SUCCESS
    assert fs(control, "node2", "stop", where)[0] == SUCCESS


def test_lazy_unmount_leaving_the_device_held_is_a_failed_stop(
        control: NodeControl, where: str, procs: Background) -> None:
    assert fs(control, "node1", "start", where)[0] == SUCCESS
    holder = procs.start("node1", f"cd {where} && touch $READY && exec sleep 600")
    code, message = fs(control, "node1", "stop", where, "force_unmount=false")
    assert code == ERR_GENERIC and "not released" in message, message
    assert is_running(holder)  # nobody was signalled: force_unmount was off
    assert where not in sh(control, "node1", "cat /proc/self/mountinfo")
    # Detached from node1's tree, yet the file system lives on behind the holder: a
    # mount on node2 now would be a double mount, so this stop is not a stop.
    assert not device_free(control, "node2")
    procs.kill_all()
    wait_for(lambda: device_free(control, "node2"), 10, "the device to be released")


def device_free(control: NodeControl, node: str) -> bool:
    """No file system holds the shared disk (an exclusive open succeeds in `node`)."""
    probe = ("import os; os.close(os.open('/dev/tandem/shared', os.O_RDONLY | os.O_EXCL))")
    return sh(control, node, f'python3 -c "{probe}" 2>/dev/null && echo free',
              check=False).strip() == "free"


def test_refuses_a_second_mount_of_the_device(control: NodeControl, where: str) -> None:
    other = where + "-other"
    assert fs(control, "node1", "start", where)[0] == SUCCESS
    try:
        code, message = fs(control, "node1", "start", other)
        assert code == ERR_GENERIC and "refusing to mount it twice" in message
        code, message = fs(control, "node1", "status", other)
        assert code == ERR_GENERIC and f"mounted at {where}, not at {other}" in message
    finally:
        assert fs(control, "node1", "stop", where)[0] == SUCCESS
        with contextlib.suppress(FileNotFoundError):
            Path(other).rmdir()


def test_read_only_mount_fails_status_and_fsck_runs(control: NodeControl, where: str) -> None:
    code, message = fs(control, "node1", "start", where, "fsck=true")
    assert code == SUCCESS and message.endswith("after fsck")
    try:
        assert fs(control, "node1", "status", where)[0] == SUCCESS  # write test passes
        sh(control, "node1", f"mount -o remount,ro {where}")
        code, message = fs(control, "node1", "status", where)
        assert code == ERR_GENERIC and "read-only" in message
        assert fs(control, "node1", "status", where, "options=ro")[0] == SUCCESS
    finally:
        assert fs(control, "node1", "stop", where)[0] == SUCCESS
