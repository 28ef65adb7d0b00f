"""Back-end I/O errors in the kernel's log (/dev/kmsg), by device.

The block layer reports every failed request ("I/O error, dev sdb, sector ...", rate
limited), the buffer cache and the file systems add their own lines; any of them names
the kernel's device. Only errors of the storage are wanted here: a full disk or a file
system's own complaint without an I/O error is not a reason to move a service.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DEV = r"(?P<dev>[A-Za-z0-9_.-]+?)"
_PATTERNS = (
    # block layer (blk_print_req_error): the request failed on the device
    re.compile(r"\b(?:I/O|critical medium|critical target|recoverable transport|timeout|"
               r"critical nexus|protection|operation not supported) error, dev " + _DEV
               + r", sector"),
    re.compile(r"\bBuffer I/O error on dev(?:ice)? " + _DEV + r","),
    re.compile(r"\bEXT[234]-fs (?:error|warning) \(device " + _DEV + r"\):.*\bI/O error"),
    re.compile(r"\bXFS \(" + _DEV + r"\):.*\bI/O error"),
    re.compile(r"\bLDISKFS-fs (?:error|warning) \(device " + _DEV + r"\):.*\bI/O error"),
)


@dataclass(frozen=True)
class KernelRecord:
    """One /dev/kmsg record."""

    seq: int
    message: str


@dataclass(frozen=True)
class IoError:
    """An I/O error the kernel reported on one device."""

    device: str  # the kernel's name: sdb, dm-3, loop5
    message: str


def parse_record(raw: bytes) -> KernelRecord | None:
    """A /dev/kmsg record ("PRIO,SEQ,USEC,FLAGS;TEXT" and optional " KEY=VALUE" lines);
    None for anything that does not have that shape."""
    text = raw.decode("utf-8", "replace")
    head, sep, rest = text.partition(";")
    if not sep:
        return None
    fields = head.split(",")
    if len(fields) < 3 or not fields[1].isdigit():
        return None
    message = rest.split("\n", 1)[0]
    return KernelRecord(int(fields[1]), message)


def io_error(message: str) -> IoError | None:
    """The device of an I/O error line, or None when the line is not one."""
    for pattern in _PATTERNS:
        match = pattern.search(message)
        if match:
            return IoError(match.group("dev"), message.strip())
    return None
