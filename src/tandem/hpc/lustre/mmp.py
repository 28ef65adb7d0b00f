"""The multiple-mount protection (MMP) block of an ext4/ldiskfs device, read directly.

A Lustre target on ldiskfs (and the lab's ext4 stand-in) made with the `mmp` feature
keeps a block that the mounting kernel rewrites every few seconds (kmmpd). A node that
wants to mount the device reads it, waits, and reads it again: if the sequence moved,
someone else holds the device and the mount is refused. So this block answers the
questions an operator asks before and after a failover: who holds this target, when did
it last show a sign of life, and how long will a mount here wait.

Layout (the kernel's fs/ext4/ext4.h, checked against `dumpe2fs -h` in the tests): the
superblock sits at byte 1024; s_mmp_update_interval is the le16 at 0x166 and
s_mmp_block the le64 at 0x168 (in file system blocks of 1024 << s_log_block_size bytes).
The MMP block holds magic, sequence, time of last update, node name, device name and
the check interval the holder last used, with a crc32c when metadata_csum is on.

Reads use O_DIRECT where the device allows it: another node's writes reach the disk,
not this node's page cache, so a cached read could show a holder long gone (or hide a
live one). Run `python -m tandem.hpc.lustre.mmp DEVICE [--json]` to show it.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import mmap
import os
import struct
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tandem.common.errors import TandemError

SUPERBLOCK_AT = 1024
EXT4_MAGIC = 0xEF53
INCOMPAT_MMP = 0x0100
INCOMPAT_CSUM_SEED = 0x2000
RO_COMPAT_METADATA_CSUM = 0x0400
# Superblock fields: (offset, struct format).
SB_LOG_BLOCK_SIZE = (0x18, "<I")
SB_MAGIC = (0x38, "<H")
SB_INCOMPAT = (0x60, "<I")
SB_RO_COMPAT = (0x64, "<I")
SB_UUID_AT = 0x68
SB_VOLUME_NAME_AT = 0x78
SB_MMP_INTERVAL = (0x166, "<H")
SB_MMP_BLOCK = (0x168, "<Q")
SB_CHECKSUM_SEED = (0x270, "<I")
# The MMP block (struct mmp_struct, 1024 bytes).
MMP_MAGIC = 0x004D4D50
MMP_HEAD = struct.Struct("<IIQ64s32sH")  # magic, seq, time, nodename, bdevname, check
MMP_CHECKSUM_AT = 1020
SEQ_CLEAN = 0xFF4D4D50  # unmounted cleanly
SEQ_FSCK = 0xE24D4D50   # e2fsck (or debugfs -w, tune2fs) has it open
SEQ_MAX = 0xE24D4D4F    # the largest sequence a live holder writes
MIN_CHECK_INTERVAL_S = 5  # the kernel never checks faster than this
WAIT_CAP_S = 60           # ... and never waits more than the interval plus this
ALIGN = 4096


class MmpError(TandemError):
    """The device cannot be read, or is not an ext4/ldiskfs file system."""


@dataclass(frozen=True)
class Superblock:
    """What this module needs from an ext4/ldiskfs superblock."""

    label: str
    block_size: int
    mmp: bool
    mmp_block: int
    update_interval_s: int
    uuid: bytes
    csum_seed: int | None  # None without metadata_csum (the MMP block has no checksum)


@dataclass(frozen=True)
class MmpReport:
    """The MMP block of one device, as an operator reads it."""

    device: str
    label: str
    state: str            # clean | fsck | in use | invalid
    sequence: int
    holder: str           # node name of the last writer (the host's, not a container's)
    holder_device: str    # its device name for the disk (loop3, dm-7, ...)
    updated: int          # time of last update, seconds since the epoch
    age_s: float          # how long ago that was, by this node's clock
    update_interval_s: int
    check_interval_s: int
    mount_wait_s: int     # the longest a mount here can wait on MMP (see mount_wait_s)
    checksum_ok: bool | None
    block: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _field(raw: bytes, spec: tuple[int, str]) -> int:
    value: int = struct.unpack_from(spec[1], raw, spec[0])[0]
    return value


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")


def read_at(path: str, offset: int, size: int) -> bytes:
    """`size` bytes at `offset`, bypassing the page cache when the file allows it."""
    start = offset - offset % ALIGN
    length = -(-(offset + size - start) // ALIGN) * ALIGN
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno != errno.EINVAL:  # tmpfs and friends refuse O_DIRECT: read cached
            raise MmpError(f"cannot open {path}: {exc.strerror}") from None
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with mmap.mmap(-1, length) as buffer:  # page aligned, as O_DIRECT wants
            got = os.preadv(fd, [buffer], start)
            data = bytes(buffer[:got])
    except OSError as exc:
        raise MmpError(f"cannot read {path} at {offset}: {exc.strerror}") from None
    finally:
        os.close(fd)
    chunk = data[offset - start:offset - start + size]
    if len(chunk) < size:
        raise MmpError(f"{path} is too small ({start + got} bytes) to hold an ext4 file system")
    return chunk


def parse_superblock(raw: bytes, path: str = "device") -> Superblock:
    """The fields we use from the 1024 bytes of a superblock; MmpError if not ext4."""
    if _field(raw, SB_MAGIC) != EXT4_MAGIC:
        raise MmpError(f"{path} holds no ext4/ldiskfs file system (bad superblock magic)")
    incompat = _field(raw, SB_INCOMPAT)
    uuid = raw[SB_UUID_AT:SB_UUID_AT + 16]
    seed: int | None = None
    if _field(raw, SB_RO_COMPAT) & RO_COMPAT_METADATA_CSUM:
        seed = (_field(raw, SB_CHECKSUM_SEED) if incompat & INCOMPAT_CSUM_SEED
                else crc32c(uuid))
    return Superblock(label=_text(raw[SB_VOLUME_NAME_AT:SB_VOLUME_NAME_AT + 16]),
                      block_size=1024 << _field(raw, SB_LOG_BLOCK_SIZE),
                      mmp=bool(incompat & INCOMPAT_MMP), mmp_block=_field(raw, SB_MMP_BLOCK),
                      update_interval_s=_field(raw, SB_MMP_INTERVAL), uuid=uuid,
                      csum_seed=seed)


def read_superblock(path: str) -> Superblock:
    return parse_superblock(read_at(path, SUPERBLOCK_AT, 1024), path)


def mount_wait_s(update_interval_s: int, check_interval_s: int = 0) -> int:
    """The longest a mount waits on MMP: the kernel takes the larger of the update
    interval, 5 s and the holder's check interval (I), and when the block is not clean
    it waits min(2I + 1, I + 60) seconds twice: once to see whether the holder is alive,
    once after writing its own sequence. A clean block is taken without waiting."""
    interval = max(update_interval_s, MIN_CHECK_INTERVAL_S, check_interval_s)
    return 2 * min(2 * interval + 1, interval + WAIT_CAP_S)


def _state(magic: int, seq: int) -> str:
    if magic != MMP_MAGIC:
        return "invalid"
    if seq == SEQ_CLEAN:
        return "clean"
    if seq == SEQ_FSCK:
        return "fsck"
    return "in use" if seq <= SEQ_MAX else "invalid"


def parse_mmp(raw: bytes, sb: Superblock, device: str, now: float) -> MmpReport:
    """An MmpReport from the 1024 bytes of the MMP block."""
    magic, seq, updated, node, bdev, check = MMP_HEAD.unpack_from(raw)
    checksum_ok = None
    if sb.csum_seed is not None:
        stored = struct.unpack_from("<I", raw, MMP_CHECKSUM_AT)[0]
        checksum_ok = crc32c(raw[:MMP_CHECKSUM_AT], sb.csum_seed) == stored
    return MmpReport(device=device, label=sb.label, state=_state(magic, seq), sequence=seq,
                     holder=_text(node), holder_device=_text(bdev), updated=updated,
                     age_s=round(now - updated, 1), update_interval_s=sb.update_interval_s,
                     check_interval_s=check,
                     mount_wait_s=mount_wait_s(sb.update_interval_s, check),
                     checksum_ok=checksum_ok, block=sb.mmp_block)


def read_mmp(path: str, now: float | None = None) -> MmpReport | None:
    """The MMP block of the device (or image file) at `path`; None if the file system
    has no MMP; MmpError if it cannot be read or is not ext4/ldiskfs."""
    sb = read_superblock(path)
    if not sb.mmp:
        return None
    raw = read_at(path, sb.mmp_block * sb.block_size, 1024)
    return parse_mmp(raw, sb, path, time.time() if now is None else now)


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def crc32c(data: bytes, seed: int = 0xFFFFFFFF) -> int:
    """crc32c as ext4 chains it (the kernel's raw update: no final inversion)."""
    crc = seed
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def describe(report: MmpReport) -> str:
    """Lines for people: who holds the device, since when, what a mount would wait."""
    seq = {"clean": "clean (unmounted cleanly)", "fsck": "fsck (a checker has it open)"}
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(report.updated))
    checksum = {None: "none (no metadata_csum)", True: "ok", False: "MISMATCH"}
    rows = [("device", f"{report.device} ({report.label or 'no label'})"),
            ("state", report.state),
            ("sequence", seq.get(report.state, f"{report.sequence:#x}")),
            ("holder", f"{report.holder or '?'} (device {report.holder_device or '?'})"),
            ("updated", f"{when} ({report.age_s:g} s ago)"),
            ("interval", f"update {report.update_interval_s} s, check "
                         f"{report.check_interval_s} s"),
            ("mount wait", f"up to {report.mount_wait_s} s when not clean"),
            ("checksum", checksum[report.checksum_ok]),
            ("block", str(report.block))]
    return "\n".join(f"{name + ':':12} {value}" for name, value in rows)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m tandem.hpc.lustre.mmp DEVICE [--json]`: 0 shown, 1 unreadable or not
    ext4, 3 no MMP on this file system."""
    parser = argparse.ArgumentParser(prog="python -m tandem.hpc.lustre.mmp",
                                     description="Show the MMP block of an ext4/ldiskfs "
                                                 "device: holder, sequence, last update.")
    parser.add_argument("device")
    parser.add_argument("--json", action="store_true", help="one JSON object")
    args = parser.parse_args(argv)
    try:
        report = read_mmp(args.device)
    except MmpError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    if report is None:
        if args.json:
            print(json.dumps({"device": args.device, "state": "no mmp"}))
        else:
            print(f"{args.device}: the file system has no MMP feature")
        return 3
    print(json.dumps(report.to_dict()) if args.json else describe(report))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
