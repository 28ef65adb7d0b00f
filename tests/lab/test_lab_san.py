"""San disks in a lab: one image, a path per node (its own loop device over a FUSE file),
and a path that fails on its own. Proven with real devices and mounts: data fsynced
through node1's path is read through node2's; a failed path gives node1 EIO and kernel
I/O errors on its loop device while node2 carries on; `crash --storage` leaves the ext4
journal dirty and node2 recovers the fsynced data; ext4-mmp refuses a second writer;
`lab down` leaves no loop device, FUSE mount or FUSE process, even after the FUSE
process was killed. The last test takes the lab down: keep it last."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit import cell_config, running_lab, sh, unique_lab_name
from tandem.lab.disks import loops_backed_by
from tandem.lab.names import LabNames
from tandem.lab.nodes import NodeControl
from tandem.lab.proc import LabError, is_alive
from tandem.lab.san import SanLayout, fuse_mounts_under, server_pids

pytestmark = pytest.mark.lab

DISKS = ('[ { name = "shared", size = "64M", format = "ext4", storage = "san" },\n'
         '  { name = "raw", size = "8M", format = "none", storage = "san" },\n'
         '  { name = "mdt", size = "32M", format = "ext4-mmp", storage = "san" },\n'
         '  { name = "plain", size = "8M", format = "none" } ]')
BLOCK = 4096
MNT = "/run/tandem/m"  # a tmpfs of its own in each node
MOUNT = f"mkdir -p {MNT} && mount /dev/tandem/shared {MNT}"


@pytest.fixture(scope="module")
def control(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeControl]:
    name = unique_lab_name("san")
    text = cell_config(name, bmc=False, disks=DISKS)
    with running_lab(tmp_path_factory.mktemp("san"), text, name) as record:
        yield NodeControl(record)


def loop_of(control: NodeControl, disk: str, node: str) -> str:
    return control.record.disk(disk).paths[node].loop


def tandem(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tandem", *args], capture_output=True, text=True, timeout=120)


def in_node(control: NodeControl, node: str, code: str) -> subprocess.CompletedProcess[str]:
    """Python `code` run inside `node` (errors come back as text, not as a failure)."""
    return subprocess.run(control.exec_argv(node, [sys.executable, "-c", code]),
                          capture_output=True, text=True, timeout=60)


WRITE_SYNC = """
import os, sys
fd = os.open(sys.argv[1] if len(sys.argv) > 1 else {path!r}, os.O_WRONLY)
os.pwrite(fd, {data!r} * {BLOCK}, {offset})
try:
    os.fsync(fd)
    print("ok")
except OSError as exc:
    print("errno", exc.errno)
"""

READ_DIRECT = """
import mmap, os
fd = os.open({path!r}, os.O_RDONLY | os.O_DIRECT)
buf = mmap.mmap(-1, {BLOCK})
try:
    os.preadv(fd, [buf], {offset})
    print(buf[:1].decode())
except OSError as exc:
    print("errno", exc.errno)
"""


def write_sync(control: NodeControl, node: str, data: bytes, offset: int) -> str:
    code = WRITE_SYNC.format(path="/dev/tandem/raw", data=data, BLOCK=BLOCK, offset=offset)
    return in_node(control, node, code).stdout.strip()


def read_direct(control: NodeControl, node: str, offset: int) -> str:
    code = READ_DIRECT.format(path="/dev/tandem/raw", BLOCK=BLOCK, offset=offset)
    return in_node(control, node, code).stdout.strip()


class Kmsg:
    """The kernel log from now on (/dev/kmsg read from its end)."""

    def __init__(self) -> None:
        self.fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
        os.lseek(self.fd, 0, os.SEEK_END)

    def lines(self) -> list[str]:
        found = []
        while True:
            try:
                record = os.read(self.fd, 8192).decode(errors="replace")
            except BlockingIOError:
                break
            except BrokenPipeError:  # overwritten while we read: go on from there
                continue
            found.append(record.split(";", 1)[-1].strip())
        return found

    def close(self) -> None:
        os.close(self.fd)


def test_each_node_has_its_own_loop_device_over_one_image(control: NodeControl) -> None:
    layout = SanLayout(LabNames(control.record.name))
    devices = {}
    for node in ("node1", "node2"):
        rdev = sh(control, node, "stat -c %t:%T /dev/tandem/shared").strip()
        loop = loop_of(control, "shared", node)
        st = os.stat(loop)
        assert rdev == f"{os.major(st.st_rdev):x}:{os.minor(st.st_rdev):x}"
        backing = Path(f"/sys/block/{Path(loop).name}/loop/backing_file").read_text().strip()
        assert backing == str(layout.path_file("shared", node))
        devices[node] = loop
    assert devices["node1"] != devices["node2"]
    # both path files are served over the one image, by the lab's one FUSE process
    pids = list(server_pids(LabNames(control.record.name).directory))
    assert pids == [control.record.san_pid]
    image = control.record.disk("shared").file
    args = Path(f"/proc/{pids[0]}/cmdline").read_bytes().split(b"\0")
    assert f"shared={image}".encode() in args
    # a "loop" disk is still one device every node shares
    plain = {sh(control, n, "stat -c %t:%T /dev/tandem/plain").strip() for n in ("node1", "node2")}
    assert len(plain) == 1


def test_fsynced_data_crosses_from_one_path_to_the_other(control: NodeControl) -> None:
    offset = 5 * BLOCK
    assert read_direct(control, "node2", offset) == "\0"
    assert write_sync(control, "node1", b"N", offset) == "ok"
    assert read_direct(control, "node2", offset) == "N"
    assert write_sync(control, "node2", b"M", offset) == "ok"
    assert read_direct(control, "node1", offset) == "M"


def test_no_path_keeps_a_page_cache_of_its_own(control: NodeControl) -> None:
    """Even a buffered reader of a path file sees another path's write at once (FUSE
    direct_io): a loop device that fell back to buffered I/O stays coherent."""
    offset = 7 * BLOCK
    path_file = control.record.disk("raw").paths["node2"].file
    with open(path_file, "rb", buffering=0) as reader:
        assert os.pread(reader.fileno(), 1, offset) == b"\0"
        assert write_sync(control, "node1", b"P", offset) == "ok"
        assert os.pread(reader.fileno(), 1, offset) == b"P"


def test_a_failed_path_fails_only_its_node(control: NodeControl) -> None:
    offset = 9 * BLOCK
    assert write_sync(control, "node1", b"A", offset) == "ok"
    kmsg = Kmsg()
    try:
        control.fail_storage("node1")
        assert control.storage_failed("node1") and not control.storage_failed("node2")
        assert write_sync(control, "node1", b"B", offset) == "errno 5"
        assert read_direct(control, "node1", offset) == "errno 5"
        assert read_direct(control, "node2", offset) == "A"  # node2's path still works
        assert write_sync(control, "node2", b"C", offset) == "ok"
        loop = Path(loop_of(control, "raw", "node1")).name
        errors = [line for line in kmsg.lines() if f"dev {loop}," in line]
        assert any("I/O error" in line for line in errors), errors
    finally:
        control.restore_storage("node1")
        kmsg.close()
    assert not control.storage_failed("node1")
    assert read_direct(control, "node1", offset) == "C"
    assert write_sync(control, "node1", b"D", offset) == "ok"


def test_storage_cli_and_status(control: NodeControl) -> None:
    lab = control.record.name
    failed = tandem("lab", "storage", "--lab", lab, "node2", "fail")
    assert failed.returncode == 0 and failed.stdout.strip() == "node2: san paths failed"
    try:
        status = json.loads(tandem("lab", "status", "--lab", lab, "--json").stdout)
        disks = {d["name"]: d for d in status["disks"]}
        assert disks["shared"]["paths"] == {
            "node1": {"loop": loop_of(control, "shared", "node1"), "state": "ok"},
            "node2": {"loop": loop_of(control, "shared", "node2"), "state": "failed"}}
        assert "paths" not in disks["plain"]
        text = tandem("lab", "status", "--lab", lab).stdout
        assert f"raw       node2  {loop_of(control, 'raw', 'node2')}" in text
    finally:
        restored = tandem("lab", "storage", "--lab", lab, "node2", "restore")
    assert restored.stdout.strip() == "node2: san paths ok"
    assert tandem("lab", "storage", "--lab", lab, "node2", "status").stdout.strip() == \
        "node2: san paths ok"
    unknown = tandem("lab", "storage", "--lab", lab, "node7", "fail")
    assert unknown.returncode != 0 and "Traceback" not in unknown.stderr
    assert "unknown node" in unknown.stderr and unknown.stderr.count("\n") == 1
    without = dataclasses.replace(control.record, disks=[control.record.disk("plain")])
    with pytest.raises(LabError, match="has no san disk"):
        NodeControl(without, control.config).fail_storage("node1")


def test_crash_with_storage_leaves_the_journal_dirty(control: NodeControl) -> None:
    sh(control, "node1", f"{MOUNT} && echo synced > {MNT}/kept && sync -f {MNT}/kept")
    crashed = tandem("lab", "crash", "--lab", control.record.name, "node1", "--storage",
                     "--delay", "0.3")
    assert crashed.returncode == 0, crashed.stderr
    try:
        assert control.power("node1").condition == "crashed"
        assert control.storage_failed("node1")  # until the node boots again
        header = subprocess.run(["dumpe2fs", "-h", control.record.disk("shared").file],
                                capture_output=True, text=True, check=True).stdout
        features = [line for line in header.splitlines() if line.startswith("Filesystem f")]
        assert "needs_recovery" in features[0]
        # node2 replays the journal through its own path and finds the fsynced file
        assert sh(control, "node2", f"{MOUNT} && cat {MNT}/kept && umount {MNT}") == "synced\n"
    finally:
        control.power_on("node1")
    assert not control.storage_failed("node1")
    assert sh(control, "node1", f"{MOUNT} && cat {MNT}/kept && umount {MNT}") == "synced\n"


def test_ext4_mmp_refuses_a_second_writer(control: NodeControl) -> None:
    """Possible only because the two paths are two devices: over one shared loop device
    both mounts would share one superblock and MMP would see nothing."""
    mount = "mkdir -p /run/tandem/mdt && mount /dev/tandem/mdt /run/tandem/mdt"
    sh(control, "node1", mount)
    kmsg = Kmsg()
    try:
        second = subprocess.run(control.exec_argv("node2", ["sh", "-c", mount]),
                                capture_output=True, text=True, timeout=120)
        assert second.returncode != 0, "node2 mounted the MMP disk node1 holds"
        loop = Path(loop_of(control, "mdt", "node2")).name
        said = [line for line in kmsg.lines() if f"device {loop})" in line]
        assert any("already active on another node" in line for line in said), said
    finally:
        kmsg.close()
        sh(control, "node1", "umount /run/tandem/mdt")


def test_down_leaves_nothing_even_after_the_fuse_process_died(control: NodeControl) -> None:
    names = LabNames(control.record.name)
    image = Path(control.record.disk("shared").file)
    sh(control, "node2", MOUNT)
    pid = control.record.san_pid
    os.kill(pid, signal.SIGKILL)  # as if the machine had lost the array
    down = tandem("lab", "down", names.lab)
    assert down.returncode == 0, down.stderr
    assert not is_alive(pid)
    assert loops_backed_by(names.directory) == []
    assert not any(str(image) in Path(f).read_text()
                   for f in Path("/sys/block").glob("loop*/loop/backing_file"))
    assert fuse_mounts_under(names.directory) == []
    assert str(names.directory) not in Path("/proc/self/mountinfo").read_text()
    assert list(server_pids(names.directory)) == []
    assert not names.directory.exists()
