"""Shared disks of a lab: sparse files behind loop devices, formatted as asked."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from tandem.config.model import LabDisk
from tandem.lab.names import LabNames
from tandem.lab.proc import LabError, run
from tandem.lab.state import DiskRecord

_MKFS = {
    "ext4": ["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=1,lazy_journal_init=1"],
    "xfs": ["mkfs.xfs", "-q", "-f"],
}


def create_disk(names: LabNames, disk: LabDisk) -> DiskRecord:
    """Create the sparse file, attach a loop device and format it."""
    path = names.disk_file(disk.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.truncate(disk.size_bytes)
    loop = run(["losetup", "--find", "--show", "--direct-io=on", str(path)],
               check=False)
    if loop.returncode != 0:  # direct I/O is refused on some backing file systems
        loop = run(["losetup", "--find", "--show", str(path)])
    device = loop.stdout.strip()
    st = os.stat(device)
    record = DiskRecord(name=disk.name, file=str(path), loop=device,
                        major=os.major(st.st_rdev), minor=os.minor(st.st_rdev),
                        format=disk.format, size_bytes=disk.size_bytes)
    if disk.format != "none":
        command = _MKFS[disk.format]
        try:
            run([*command, "-L", disk.name[:12], device], timeout=120)
        except LabError as exc:
            detach_loops_of(path)
            raise LabError(f"disk {disk.name}: formatting as {disk.format} failed: {exc}") \
                from None
    return record


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
