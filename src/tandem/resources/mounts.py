"""What is mounted where in this mount namespace, and which processes use a mount.

Only processes of our own mount namespace are ever considered: on a machine where other
namespaces exist (a lab, containers), a process elsewhere whose path merely looks the
same is unrelated and must never be signalled. Everything here reads /proc and is
synchronous; agents call it through `asyncio.to_thread`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from dataclasses import dataclass
from pathlib import Path

from tandem.resources.proctab import ProcRef, all_pids, mount_namespace, proc_stat
from tandem.system.blockdev import device_number

MOUNTINFO = Path("/proc/self/mountinfo")
_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class Mount:
    """One line of /proc/self/mountinfo."""

    device: tuple[int, int]
    root: str
    mountpoint: str
    source: str
    fstype: str
    options: str
    super_options: str = ""

    @property
    def read_only(self) -> bool:
        """Mounted read-only, by request or because the kernel remounted it after errors."""
        return "ro" in self.options.split(",") or "ro" in self.super_options.split(",")


def unescape(text: str) -> str:
    """Undo the kernel's octal escapes (space, tab, newline, backslash) in mountinfo."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), text)


def parse_mountinfo(text: str) -> list[Mount]:
    """Mounts from the text of a mountinfo file, in mount order."""
    found = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 6 or not tail:
            continue
        major, minor = (int(x) for x in fields[2].split(":"))
        found.append(Mount((major, minor), unescape(fields[3]), unescape(fields[4]),
                           unescape(tail[1]) if len(tail) > 1 else "", tail[0], fields[5],
                           tail[2] if len(tail) > 2 else ""))
    return found


def mounts() -> list[Mount]:
    """Every mount of this mount namespace, in mount order."""
    return parse_mountinfo(MOUNTINFO.read_text())


def mounts_of(device: str, table: list[Mount] | None = None) -> list[Mount]:
    """Every mount of `device` in this namespace: by device number for a block device
    (whatever path it was mounted by), by source text otherwise (NFS, tmpfs...)."""
    table = mounts() if table is None else table
    number = device_number(device)
    if number is None:
        return [m for m in table if m.source == device]
    return [m for m in table if m.device == number]


def device_released(device: str) -> bool:
    """No file system holds the block device any more, in any namespace of this kernel
    (an exclusive open succeeds). Non-block sources cannot be checked: True."""
    if device_number(device) is None:
        return True
    try:
        fd = os.open(device, os.O_RDONLY | os.O_EXCL | os.O_CLOEXEC)
    except OSError as exc:
        return exc.errno != errno.EBUSY
    os.close(fd)
    return True


def inside(path: str, mountpoint: str) -> bool:
    """`path` (as /proc shows it) lies on or below `mountpoint`."""
    path = path.removesuffix(" (deleted)")
    return path == mountpoint or path.startswith(mountpoint.rstrip("/") + "/")


def users_of(mountpoint: str) -> list[ProcRef]:
    """Processes of this mount namespace whose cwd, root, executable, an open file or a
    mapped file lies under `mountpoint` (what `fuser -m` finds), never ourselves."""
    target = os.path.normpath(mountpoint)
    ours = mount_namespace()
    me = os.getpid()
    found = []
    for pid in all_pids():
        if pid == me or mount_namespace(pid) != ours:
            continue
        base = f"/proc/{pid}"
        if _uses(base, target):
            now = proc_stat(pid)
            if now is not None and now.alive:
                found.append(now.ref)
    return found


def _uses(base: str, target: str) -> bool:
    links = [f"{base}/{name}" for name in ("cwd", "root", "exe")]
    with contextlib.suppress(OSError):
        links += [entry.path for entry in os.scandir(f"{base}/fd")]
    for link in links:
        try:
            if inside(os.readlink(link), target):
                return True
        except OSError:
            continue
    try:
        with open(f"{base}/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                parts = line.split(None, 5)
                if len(parts) == 6 and inside(parts[5].strip(), target):
                    return True
    except OSError:
        pass
    return False
