"""The quorum disk's on-disk format: one header block, then one slot block per node id.

Every block is 4 KiB (a multiple of any logical sector size, so direct I/O is aligned on
512-byte and 4K-native devices alike) and ends with a CRC32 of everything before it: a
torn or half-written block is detected and treated as unreadable, never as data. The
header carries a random uuid that every slot repeats, so slots left over from an earlier
`init` of the same disk are recognised as stale. Node `i` owns block `i` and is the only
writer of it; everybody reads everything. Integers are little-endian.

Header (block 0)                        Slot (block i, written only by node i)
  magic "TNDMQDSK", version, flags        magic "TQSL", version, node id
  block size, slot count                  disk uuid, incarnation, sequence counter
  disk uuid, creation time                wall-clock time of the write
  label (64 B), cell name (32 B)          writer's interval (ms) and tko
                                          score, max score, flags (score passes,
                                          still holding services, quorate), state,
                                          role, vote, seen mask, node name

The "quorate" flag came after the first slots were written: a slot without it reads as
not quorate, which is what a peer of an older build looks like to the stop wait (it is
waited for, as before). Unknown flag bits are ignored, so older readers skip it.
"""

from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass

from tandem.common.errors import TandemError

BLOCK_SIZE = 4096
MAX_NODES = 16
FORMAT_VERSION = 1
HEADER_MAGIC = b"TNDMQDSK"
SLOT_MAGIC = b"TQSL"
LABEL_BYTES = 64
CELL_BYTES = 32
NAME_BYTES = 32
UUID_BYTES = 16

_CRC = struct.Struct("<I")
_BODY = BLOCK_SIZE - _CRC.size
_HEADER = struct.Struct(f"<8sHHIHH{UUID_BYTES}sd{LABEL_BYTES}s{CELL_BYTES}s")
_SLOT = struct.Struct(f"<4sHH{UUID_BYTES}sQQdIHHHBBBBH{NAME_BYTES}s")
_SCORE_OK = 0x01
_HOLDING = 0x02  # the writer still runs services (it may not be fenced yet: qdisk.py)
_QUORATE = 0x04  # the writer's engine is quorate: it keeps its services, it won't stop


class QdiskError(TandemError):
    """Anything that keeps the quorum disk from being used; the message is one line."""


class QdiskFormatError(QdiskError):
    """A block that is not what the format says it should be (magic, checksum, fields)."""


class QdiskIOError(QdiskError):
    """The device could not be opened, read or written."""


class SlotState(enum.IntEnum):
    """What the owner of a slot is doing."""

    INIT = 1      # just started: still learning which other slots are alive
    RUNNING = 2
    STOPPED = 3   # left cleanly: dead on disk at once, no need to wait for tko
    EVICTED = 4   # was silent longer than tko (others may have declared it dead): rejoining


class Role(enum.IntEnum):
    """A node's part in the master election (see `elect`)."""

    NONE = 0
    BID = 1       # wants to become master; written before it looks for rivals
    MASTER = 2


@dataclass(frozen=True)
class Header:
    """Block 0: what this disk is and how many slots it has."""

    label: str
    cell: str
    max_nodes: int
    uuid: bytes
    created: float
    version: int = FORMAT_VERSION
    block_size: int = BLOCK_SIZE

    @property
    def layout_bytes(self) -> int:
        """Bytes the header and every slot occupy from the start of the device."""
        return (1 + self.max_nodes) * self.block_size


@dataclass(frozen=True)
class Slot:
    """One node's latest word on the disk."""

    node_id: int
    disk_uuid: bytes
    incarnation: int
    seq: int
    timestamp: float
    interval_ms: int
    tko: int
    score: int
    max_score: int
    score_ok: bool
    state: SlotState
    role: Role
    vote: int
    seen: frozenset[int]
    name: str = ""
    holding: bool = False
    quorate: bool = False

    @property
    def tko_s(self) -> float:
        """How long this writer may stay silent before it is dead on disk, by its config."""
        return self.interval_ms * self.tko / 1000.0


@dataclass(frozen=True)
class SlotRecord:
    """What reading one slot block gave: a slot, nothing (never written or stale), or an
    error (checksum or field check failed: a torn write or a damaged block)."""

    node_id: int
    slot: Slot | None
    error: str = ""

    @property
    def readable(self) -> bool:
        return not self.error


def _seal(body: bytes) -> bytes:
    padded = body.ljust(_BODY, b"\0")
    return padded + _CRC.pack(zlib.crc32(padded))


def _unseal(block: bytes, what: str) -> bytes:
    if len(block) != BLOCK_SIZE:
        raise QdiskFormatError(f"{what}: expected {BLOCK_SIZE} bytes, got {len(block)}")
    (stored,) = _CRC.unpack_from(block, _BODY)
    if zlib.crc32(block[:_BODY]) != stored:
        raise QdiskFormatError(f"{what}: checksum mismatch (torn write or damaged block)")
    return block[:_BODY]


def _text(value: str, size: int, what: str) -> bytes:
    raw = value.encode("utf-8")
    if len(raw) > size or "\0" in value:
        raise QdiskFormatError(f"{what} {value!r} is too long (at most {size} bytes) "
                               f"or contains NUL")
    return raw


def _untext(raw: bytes) -> str:
    return raw.rstrip(b"\0").decode("utf-8", errors="replace")


def is_blank(block: bytes) -> bool:
    """True for a block that was never written (all zeros)."""
    return not any(block)


def seen_mask(ids: frozenset[int]) -> int:
    """Node ids 1..16 as a 16-bit mask (bit i-1 for node i)."""
    return sum(1 << (i - 1) for i in ids if 1 <= i <= MAX_NODES)


def seen_ids(mask: int) -> frozenset[int]:
    """The inverse of seen_mask."""
    return frozenset(i for i in range(1, MAX_NODES + 1) if mask & (1 << (i - 1)))


def encode_header(header: Header) -> bytes:
    """The header block, sealed with its checksum."""
    if not 1 <= header.max_nodes <= MAX_NODES:
        raise QdiskFormatError(f"slot count must be 1..{MAX_NODES}, got {header.max_nodes}")
    if len(header.uuid) != UUID_BYTES:
        raise QdiskFormatError("disk uuid must be 16 bytes")
    if not header.label:
        raise QdiskFormatError("a quorum disk needs a label")
    body = _HEADER.pack(HEADER_MAGIC, header.version, 0, header.block_size,
                        header.max_nodes, 0, header.uuid, header.created,
                        _text(header.label, LABEL_BYTES, "label"),
                        _text(header.cell, CELL_BYTES, "cell name"))
    return _seal(body)


def decode_header(block: bytes) -> Header:
    """Parse block 0; QdiskFormatError says precisely why it is not a usable header."""
    if len(block) == BLOCK_SIZE and is_blank(block):
        raise QdiskFormatError("blank: not initialised as a quorum disk (tandem qdisk init)")
    if block[:len(HEADER_MAGIC)] != HEADER_MAGIC:
        raise QdiskFormatError("not a tandem quorum disk (no header magic)")
    body = _unseal(block, "header")
    (_magic, version, _flags, block_size, max_nodes, _pad, uuid, created, label,
     cell) = _HEADER.unpack_from(body)
    if version != FORMAT_VERSION:
        raise QdiskFormatError(f"header format version {version} is not supported "
                               f"(this tandem reads version {FORMAT_VERSION})")
    if block_size != BLOCK_SIZE or not 1 <= max_nodes <= MAX_NODES:
        raise QdiskFormatError(f"header has block size {block_size} and {max_nodes} slots; "
                               f"expected {BLOCK_SIZE} and 1..{MAX_NODES}")
    return Header(label=_untext(label), cell=_untext(cell), max_nodes=max_nodes,
                  uuid=bytes(uuid), created=created, version=version, block_size=block_size)


def encode_slot(slot: Slot) -> bytes:
    """A slot block, sealed with its checksum."""
    if not 1 <= slot.node_id <= MAX_NODES:
        raise QdiskFormatError(f"node id must be 1..{MAX_NODES} on a quorum disk, "
                               f"got {slot.node_id}")
    body = _SLOT.pack(SLOT_MAGIC, FORMAT_VERSION, slot.node_id, slot.disk_uuid,
                      slot.incarnation, slot.seq, slot.timestamp, slot.interval_ms,
                      slot.tko, slot.score, slot.max_score, int(slot.state), int(slot.role),
                      slot.vote, _flags(slot), seen_mask(slot.seen),
                      _text(slot.name, NAME_BYTES, "node name"))
    return _seal(body)


def _flags(slot: Slot) -> int:
    return ((_SCORE_OK if slot.score_ok else 0) | (_HOLDING if slot.holding else 0)
            | (_QUORATE if slot.quorate else 0))


def decode_slot(block: bytes, node_id: int) -> Slot | None:
    """Parse the slot block of `node_id`: None when never written, QdiskFormatError when
    damaged or not this node's."""
    if is_blank(block):
        return None
    what = f"slot {node_id}"
    if block[:len(SLOT_MAGIC)] != SLOT_MAGIC:
        raise QdiskFormatError(f"{what}: no slot magic")
    body = _unseal(block, what)
    (_magic, version, owner, uuid, incarnation, seq, timestamp, interval_ms, tko, score,
     max_score, state, role, vote, flags, mask, name) = _SLOT.unpack_from(body)
    if version != FORMAT_VERSION:
        raise QdiskFormatError(f"{what}: format version {version} is not supported")
    if owner != node_id:
        raise QdiskFormatError(f"{what}: claims to belong to node {owner}")
    try:
        state_v, role_v = SlotState(state), Role(role)
    except ValueError:
        raise QdiskFormatError(f"{what}: unknown state {state} or role {role}") from None
    return Slot(node_id=owner, disk_uuid=bytes(uuid), incarnation=incarnation, seq=seq,
                timestamp=timestamp, interval_ms=interval_ms, tko=tko, score=score,
                max_score=max_score, score_ok=bool(flags & _SCORE_OK), state=state_v,
                role=role_v, vote=vote, seen=seen_ids(mask), name=_untext(name),
                holding=bool(flags & _HOLDING), quorate=bool(flags & _QUORATE))


def read_slot_record(block: bytes, node_id: int, header: Header) -> SlotRecord:
    """Decode a slot block for the disk described by `header` (stale slots read as empty)."""
    try:
        slot = decode_slot(block, node_id)
    except QdiskFormatError as exc:
        return SlotRecord(node_id, None, str(exc))
    if slot is not None and slot.disk_uuid != header.uuid:
        return SlotRecord(node_id, None)
    return SlotRecord(node_id, slot)
