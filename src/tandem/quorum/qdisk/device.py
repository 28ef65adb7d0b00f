"""Direct, synchronous block I/O on the quorum disk.

Nodes share the disk, not a page cache: a buffered read could return what this node's
kernel cached a minute ago, and a buffered write could sit in memory while the peers
decide that we are dead. So every read and write uses O_DIRECT|O_SYNC with page-aligned
buffers (anonymous mmap), and there is no buffered fallback: a file system that refuses
O_DIRECT is refused with a clear error. Regular files on ext4, xfs or (kernel >= 6.6)
tmpfs accept O_DIRECT, which is what the unit tests use; the lab uses loop devices.

Calls block for as long as the device does. They are meant for a dedicated thread
(qdisk.QuorumDisk), never for the daemon's event loop.
"""

from __future__ import annotations

import errno
import mmap
import os
import time
import uuid
from dataclasses import dataclass
from types import TracebackType

from tandem.quorum.qdisk.format import (
    BLOCK_SIZE,
    MAX_NODES,
    Header,
    QdiskError,
    QdiskFormatError,
    QdiskIOError,
    Slot,
    SlotRecord,
    decode_header,
    encode_header,
    encode_slot,
    is_blank,
    read_slot_record,
)

DATA_PROBE_BYTES = 1 << 20


@dataclass(frozen=True)
class DiskImage:
    """The header and every slot, as read in one pass."""

    header: Header
    slots: tuple[SlotRecord, ...]

    def record(self, node_id: int) -> SlotRecord:
        """The record of `node_id`'s slot (KeyError outside 1..max_nodes)."""
        if not 1 <= node_id <= len(self.slots):
            raise KeyError(node_id)
        return self.slots[node_id - 1]


class QdiskDevice:
    """An open quorum disk (a block device, or a file for tests). Use as a context
    manager; it is opened afresh for each cycle so that a path that disappears (a
    removed device node, a lost multipath map) is noticed at once."""

    def __init__(self, path: str, *, writable: bool = True) -> None:
        self.path = path
        flags = (os.O_RDWR if writable else os.O_RDONLY) | os.O_DIRECT | os.O_SYNC
        try:
            self._fd = os.open(path, flags | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise QdiskIOError(f"{path}: direct I/O (O_DIRECT) is not supported here; "
                                   f"use a block device or a file on ext4/xfs") from None
            raise QdiskIOError(f"{path}: cannot open: {exc.strerror or exc}") from None
        try:
            self.size_bytes = os.lseek(self._fd, 0, os.SEEK_END)
        except OSError as exc:
            os.close(self._fd)
            raise QdiskIOError(f"{path}: cannot size: {exc.strerror or exc}") from None

    def __enter__(self) -> QdiskDevice:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    # -- raw blocks -------------------------------------------------------------------
    def read_blocks(self, first: int, count: int) -> bytes:
        """`count` blocks from block `first`, straight from the device."""
        length = count * BLOCK_SIZE
        with mmap.mmap(-1, length) as buf:
            try:
                got = os.preadv(self._fd, [buf], first * BLOCK_SIZE)
            except OSError as exc:
                raise QdiskIOError(f"{self.path}: read failed: {exc.strerror or exc}") \
                    from None
            if got != length:
                raise QdiskIOError(f"{self.path}: short read ({got} of {length} bytes at "
                                   f"block {first}): device too small?")
            return bytes(buf)

    def write_block(self, index: int, data: bytes) -> None:
        """Write one block at block `index` and return once the device has it."""
        if len(data) != BLOCK_SIZE:
            raise ValueError(f"a block is {BLOCK_SIZE} bytes, got {len(data)}")
        with mmap.mmap(-1, BLOCK_SIZE) as buf:
            buf[:] = data
            try:
                done = os.pwritev(self._fd, [buf], index * BLOCK_SIZE)
            except OSError as exc:
                raise QdiskIOError(f"{self.path}: write failed: {exc.strerror or exc}") \
                    from None
        if done != BLOCK_SIZE:
            raise QdiskIOError(f"{self.path}: short write ({done} of {BLOCK_SIZE} bytes)")

    # -- structured access ------------------------------------------------------------
    def read_header(self) -> Header:
        """The header; QdiskFormatError if the disk is blank or not a quorum disk."""
        if self.size_bytes < BLOCK_SIZE:
            raise QdiskIOError(f"{self.path}: too small ({self.size_bytes} bytes)")
        try:
            return decode_header(self.read_blocks(0, 1))
        except QdiskFormatError as exc:
            raise QdiskFormatError(f"{self.path}: {exc}") from None

    def read_image(self) -> DiskImage:
        """The header and every slot (damaged slots come back as records with an error)."""
        header = self.read_header()
        raw = self.read_blocks(1, header.max_nodes)
        slots = tuple(read_slot_record(raw[i * BLOCK_SIZE:(i + 1) * BLOCK_SIZE], i + 1,
                                       header)
                      for i in range(header.max_nodes))
        return DiskImage(header, slots)

    def write_slot(self, header: Header, slot: Slot) -> None:
        """Write `slot` into its own block of the disk described by `header`."""
        if not 1 <= slot.node_id <= header.max_nodes:
            raise QdiskError(f"{self.path}: node id {slot.node_id} has no slot "
                             f"(this disk has slots 1..{header.max_nodes})")
        self.write_block(slot.node_id, encode_slot(slot))

    def holds_data(self) -> bool:
        """True if the start of the device holds anything but zeros (a file system, a
        partition table, an old quorum disk)."""
        probe = min(self.size_bytes, DATA_PROBE_BYTES) // BLOCK_SIZE
        return probe > 0 and not is_blank(self.read_blocks(0, probe))


def init_disk(path: str, label: str, *, cell: str = "", max_nodes: int = MAX_NODES,
              force: bool = False) -> Header:
    """Write a fresh header and empty slots to `path` (like mkqdisk).

    Refuses a disk that is already a quorum disk or holds any data unless `force`.
    The slots are cleared before the header is written, so an interrupted init never
    leaves a valid header over old slots.
    """
    header = Header(label=label, cell=cell, max_nodes=max_nodes, uuid=uuid.uuid4().bytes,
                    created=time.time())
    block = encode_header(header)  # validates label, cell and slot count first
    with QdiskDevice(path) as dev:
        if dev.size_bytes < header.layout_bytes:
            raise QdiskError(f"{path}: too small for {max_nodes} slots "
                             f"({dev.size_bytes} bytes, {header.layout_bytes} needed)")
        if not force:
            _refuse_overwrite(dev)
        for node_id in range(1, max_nodes + 1):
            dev.write_block(node_id, bytes(BLOCK_SIZE))
        dev.write_block(0, block)
    return header


def _refuse_overwrite(dev: QdiskDevice) -> None:
    try:
        old = dev.read_header()
    except QdiskFormatError:
        if dev.holds_data():
            raise QdiskError(f"{dev.path}: holds data (non-zero bytes in its first MiB); "
                             f"use --force to overwrite it") from None
        return
    cell = f", cell {old.cell}" if old.cell else ""
    raise QdiskError(f"{dev.path}: already a quorum disk labelled {old.label!r}{cell}; "
                     f"use --force to overwrite it")
