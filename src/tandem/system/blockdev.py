"""Which block devices a path stands on, as the kernel names them.

A service's resources name devices by path (/dev/mapper/ost0, /dev/disk/by-id/...,
/dev/tandem/shared) while the kernel reports errors by its own names (sdb, dm-3, loop5).
Both meet at the device number. An error on a disk under the one a service mounts (the
disk of a partition, a path under a multipath or LVM device) is an error of the
service's storage too, so the stack below each device is followed through sysfs.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

SYS_BLOCK = Path("/sys/class/block")
SYS_DEV_BLOCK = Path("/sys/dev/block")
MAX_STACK = 32  # bound on the devices walked below one path (multipath: a few per LUN)

DevNum = tuple[int, int]


def device_number(path: str) -> DevNum | None:
    """The (major, minor) of a block device path; None for anything else or missing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISBLK(st.st_mode):
        return None
    return os.major(st.st_rdev), os.minor(st.st_rdev)


def number_of_name(name: str, sys_block: Path = SYS_BLOCK) -> DevNum | None:
    """The device number of a kernel device name (sdb, dm-0, loop3); None if unknown."""
    if not name or "/" in name or name.startswith("."):
        return None
    try:
        major, minor = (sys_block / name / "dev").read_text().strip().split(":")
        return int(major), int(minor)
    except (OSError, ValueError):
        return None


def stack_below(number: DevNum, sys_dev: Path = SYS_DEV_BLOCK) -> set[DevNum]:
    """`number` and every device it is built on: the whole disk of a partition, the
    slaves of a device-mapper or md device, recursively (bounded)."""
    found: set[DevNum] = set()
    todo = [number]
    while todo and len(found) < MAX_STACK:
        current = todo.pop()
        if current in found:
            continue
        found.add(current)
        try:
            node = (sys_dev / f"{current[0]}:{current[1]}").resolve(strict=True)
        except OSError:
            continue
        below = [node / "slaves" / s for s in _listdir(node / "slaves")]
        if (node / "partition").exists():
            below.append(node.parent)
        for entry in below:
            parsed = _dev_file(entry / "dev")
            if parsed is not None:
                todo.append(parsed)
    return found


def _listdir(path: Path) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def _dev_file(path: Path) -> DevNum | None:
    with contextlib.suppress(OSError, ValueError):
        major, minor = path.read_text().strip().split(":")
        return int(major), int(minor)
    return None


def resolve_device(text: str, sys_block: Path = SYS_BLOCK) -> DevNum | None:
    """A device given by an operator or a watcher: a path under /dev, a kernel name, or
    MAJOR:MINOR."""
    if text.startswith("/"):
        return device_number(text)
    if ":" in text:
        major, _, minor = text.partition(":")
        if major.isdigit() and minor.isdigit():
            return int(major), int(minor)
        return None
    return number_of_name(text, sys_block)
