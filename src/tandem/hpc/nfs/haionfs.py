"""The reader of the manual's /etc/storageadmin/haionfs.conf: the shared file systems
an NFS I/O cell mounts on its active node, one per line.

    # DEVICE            MOUNTPOINT     FSTYPE
    /dev/ldn.da0.1      /mount_point1  xfs

Blank lines and `#` comments (whole lines, or after the three fields) are ignored.
The manual's file systems are ext3 or xfs (§9.3); ext4, ext3's successor, is accepted
too. The device and the mount point are absolute paths; a mount point is not `/`, is
listed once, and is not inside another one (the service mounts them side by side, in
file order, and unmounts them in reverse: a nested one would depend on that order).

Every malformed line is `FILE:LINE: problem`; the file is read whole before anything
is done with it, so a bad line changes nothing anywhere.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path

from tandem.common.errors import EXIT_USAGE, TandemError
from tandem.hpc.mgmt.datafile import DataLine, LineError, data_lines
from tandem.hpc.mgmt.errors import DataError

DEFAULT_PATH = Path("/etc/storageadmin/haionfs.conf")
FSTYPES = ("ext3", "ext4", "xfs")
FIELDS = "DEVICE MOUNTPOINT FSTYPE"


class HaionfsError(TandemError):
    """haionfs.conf cannot be read or has a malformed line (`FILE:LINE: problem`); bad
    input, so the command line exits 2."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class SharedFs:
    """One line of haionfs.conf: a shared file system and where it came from."""

    device: str
    mountpoint: str
    fstype: str
    line: int


def read_haionfs(path: Path = DEFAULT_PATH) -> tuple[SharedFs, ...]:
    """The file systems of `path`, in file order; HaionfsError naming the first bad
    line (and how many more there are)."""
    try:
        lines = data_lines(path)
    except DataError as exc:
        raise HaionfsError(str(exc)) from None
    entries: list[SharedFs] = []
    problems: list[str] = []
    for line in lines:
        try:
            entries.append(_entry(line, entries))
        except LineError as exc:
            problems.append(f"{line.where}: {exc}")
    if problems:
        more = f" (and {len(problems) - 1} more bad lines)" if len(problems) > 1 else ""
        raise HaionfsError(problems[0] + more)
    if not entries:
        raise HaionfsError(f"{path}: no file system listed (one line per file system: "
                           f"{FIELDS})")
    return tuple(entries)


def _entry(line: DataLine, before: list[SharedFs]) -> SharedFs:
    """The file system of one line; LineError saying what is wrong with it."""
    fields = line.text.split("#", 1)[0].split()
    if len(fields) != 3:
        raise LineError(f"expected {FIELDS}, got {len(fields)} field(s)")
    device, mountpoint, fstype = fields
    if not device.startswith("/"):
        raise LineError(f"device {device!r} is not an absolute path")
    if not mountpoint.startswith("/"):
        raise LineError(f"mount point {mountpoint!r} is not an absolute path")
    if _normal(mountpoint) != mountpoint.rstrip("/") or mountpoint == "/":
        raise LineError(f"mount point {mountpoint!r} is not a plain directory path (no "
                        f"'.', '..', '//', not /)")
    if fstype not in FSTYPES:
        raise LineError(f"file system type {fstype!r} is not one of {', '.join(FSTYPES)}")
    entry = SharedFs(device, mountpoint.rstrip("/"), fstype, line.number)
    for other in before:
        _clash(other, entry)
    return entry


def _normal(path: str) -> str:
    normal = posixpath.normpath(path)
    return "/" + normal.lstrip("/") if normal.startswith("//") else normal


def _clash(other: SharedFs, entry: SharedFs) -> None:
    """LineError if `entry` shares its device or mount point with `other`'s line."""
    mountpoint = entry.mountpoint
    if mountpoint == other.mountpoint:
        raise LineError(f"mount point {mountpoint} is listed already at line {other.line}")
    if entry.device == other.device:
        raise LineError(f"device {entry.device} is listed already at line {other.line}")
    if mountpoint.startswith(other.mountpoint + "/"):
        raise LineError(f"mount point {mountpoint} is inside {other.mountpoint} (line "
                        f"{other.line})")
    if other.mountpoint.startswith(mountpoint + "/"):
        raise LineError(f"mount point {mountpoint} holds {other.mountpoint} (line "
                        f"{other.line})")
