"""Shared disks of a lab: sparse files behind loop devices, formatted as asked (one
loop device for every node, or one per node for a san disk, see tandem.lab.san)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from tandem.config.model import LabDisk
from tandem.lab.names import LabNames
from tandem.lab.proc import LabError, run
from tandem.lab.state import DiskRecord, NodePath

_MKFS = {
    "ext4": ["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=1,lazy_journal_init=1"],
    # multi-mount protection, checked every second: the stand-in for Lustre's ldiskfs
    "ext4-mmp": ["mkfs.ext4", "-q", "-F", "-O", "mmp",
                 "-E", "mmp_update_interval=1,lazy_itable_init=1,lazy_journal_init=1"],
    "xfs": ["mkfs.xfs", "-q", "-f"],
}


def create_disk(names: LabNames, disk: LabDisk) -> DiskRecord:
    """Create the sparse file and format it; a "loop" disk also gets its one loop
    device here (a "san" disk gets one per node later, see attach_san_paths)."""
    path = names.disk_file(disk.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.truncate(disk.size_bytes)
    record = DiskRecord(name=disk.name, file=str(path), loop="", major=0, minor=0,
                        format=disk.format, size_bytes=disk.size_bytes,
                        storage=disk.storage)
    if disk.storage == "san":
        _format(disk, str(path))  # the image itself: no path exists yet
        return record
    record.loop, record.major, record.minor = attach_loop(path)
    try:
        _format(disk, record.loop)
    except LabError:
        detach_loops_of(path)
        raise
    return record


def _format(disk: LabDisk, target: str) -> None:
    if disk.format == "none":
        return
    try:
        run([*_MKFS[disk.format], "-L", disk.name[:12], target], timeout=120)
    except LabError as exc:
        raise LabError(f"disk {disk.name}: formatting as {disk.format} failed: {exc}") \
            from None


def attach_loop(path: Path) -> tuple[str, int, int]:
    """A new loop device over `path`, with direct I/O where the backing file system
    allows it; (device, major, minor)."""
    loop = run(["losetup", "--find", "--show", "--direct-io=on", str(path)], check=False)
    if loop.returncode != 0:  # direct I/O is refused on some backing file systems
        loop = run(["losetup", "--find", "--show", str(path)])
    device = loop.stdout.strip()
    st = os.stat(device)
    return device, os.major(st.st_rdev), os.minor(st.st_rdev)


def attach_san_paths(record: DiskRecord, files: dict[str, Path]) -> None:
    """Give each node its own loop device over its own path file (`files`: node ->
    file); the first node's path also fills the record's single-device fields."""
    for node, file in files.items():
        loop, major, minor = attach_loop(file)
        record.paths[node] = NodePath(file=str(file), loop=loop, major=major, minor=minor)
    first = next(iter(record.paths.values()))
    record.loop, record.major, record.minor = first.loop, first.major, first.minor


def loops_backed_by(directory: Path) -> list[str]:
    """Loop devices whose backing file lies under `directory` (found through sysfs, so
    this works without any state file)."""
    found = []
    prefix = str(directory.resolve()) + "/"
    for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
        with contextlib.suppress(OSError):
            target = backing.read_text().strip()
            if target.startswith(prefix):
                found.append("/dev/" + backing.parent.parent.name)
    return sorted(found)


def detach_loops_of(path: Path) -> None:
    """Detach every loop device over `path` or any file under it."""
    base = path if path.is_dir() else path.parent
    for device in loops_backed_by(base):
        if path.is_dir() or _backing_file(device) == str(path.resolve()):
            run(["losetup", "--detach", device], check=False)


def _backing_file(device: str) -> str:
    name = Path(device).name
    try:
        return Path(f"/sys/block/{name}/loop/backing_file").read_text().strip()
    except OSError:
        return ""
