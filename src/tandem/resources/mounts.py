"""What is mounted where in this mount namespace, and which processes use a mount.

Shared by the `fs` agent and the management toolkit. Only processes of our own mount
namespace are ever considered: on a machine where other namespaces exist (a lab, or
containers), a process elsewhere with a path that merely looks the same is unrelated.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Mount:
    """One line of /proc/self/mountinfo."""

    device: tuple[int, int]
    root: str
    mountpoint: str
    source: str
    fstype: str
    options: str


def _unescape(text: str) -> str:
    return text.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n") \
        .replace("\\134", "\\")


def mounts() -> list[Mount]:
    """Every mount of this mount namespace, in mount order."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        major, minor = (int(x) for x in fields[2].split(":"))
        found.append(Mount((major, minor), _unescape(fields[3]), _unescape(fields[4]),
                           _unescape(tail[1]) if len(tail) > 1 else "", tail[0],
                           fields[5]))
    return found


def device_number(path: str) -> tuple[int, int] | None:
    """(major, minor) of a block device path (None if it is not one)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISBLK(st.st_mode):
        return None
    return os.major(st.st_rdev), os.minor(st.st_rdev)


def mounted_at(mountpoint: str) -> Mount | None:
    """The topmost mount on `mountpoint`, if any."""
    target = os.path.normpath(mountpoint)
    found = [m for m in mounts() if m.mountpoint == target]
    return found[-1] if found else None


def mounts_of(device: str) -> list[Mount]:
    """Every mount of the block device `device` in this namespace."""
    number = device_number(device)
    if number is None:
        return [m for m in mounts() if m.source == device]
    return [m for m in mounts() if m.device == number]


def _inside(path: str, mountpoint: str) -> bool:
    path = path.removesuffix(" (deleted)")
    return path == mountpoint or path.startswith(mountpoint.rstrip("/") + "/")


def _own_mount_ns() -> str:
    return os.readlink("/proc/self/ns/mnt")


def users_of(mountpoint: str) -> list[int]:
    """Processes of this mount namespace with their cwd, root, executable, an open file
    or a mapped file under `mountpoint` (the way fuser -m finds them)."""
    target = os.path.normpath(mountpoint)
    ours = _own_mount_ns()
    me = os.getpid()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        base = f"/proc/{entry.name}"
        try:
            if os.readlink(f"{base}/ns/mnt") != ours:
                continue
            if _uses(base, target):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _uses(base: str, target: str) -> bool:
    for link in ("cwd", "root", "exe"):
        try:
            if _inside(os.readlink(f"{base}/{link}"), target):
                return True
        except OSError:
            pass
    try:
        for fd in os.scandir(f"{base}/fd"):
            try:
                if _inside(os.readlink(fd.path), target):
                    return True
            except OSError:
                continue
    except OSError:
        pass
    try:
        with open(f"{base}/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                parts = line.split(None, 5)
                if len(parts) == 6 and _inside(parts[5].strip(), target):
                    return True
    except OSError:
        pass
    return False
