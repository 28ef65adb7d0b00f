"""The on-disk format and the direct-I/O device, on regular files.

pytest's tmp_path is on ext4 here, which accepts O_DIRECT (so does tmpfs since Linux
6.6); the device code has no buffered fallback, so these tests exercise the same
aligned, direct, synchronous path as a block device does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tandem.quorum.qdisk.device import QdiskDevice, init_disk
from tandem.quorum.qdisk.format import (
    BLOCK_SIZE,
    MAX_NODES,
    Header,
    QdiskError,
    QdiskFormatError,
    QdiskIOError,
    Role,
    Slot,
    SlotState,
    decode_header,
    decode_slot,
    encode_header,
    encode_slot,
)

UUID = bytes(range(16))


def disk_file(tmp_path: Path, name: str = "qdisk.img", size: int = 1 << 20) -> str:
    path = tmp_path / name
    with open(path, "wb") as handle:
        handle.truncate(size)
    return str(path)


def a_slot(node_id: int = 3, **changes: object) -> Slot:
    values: dict[str, object] = dict(
        node_id=node_id, disk_uuid=UUID, incarnation=99, seq=12, timestamp=1.5e9,
        interval_ms=1000, tko=10, score=2, max_score=3, score_ok=True,
        state=SlotState.RUNNING, role=Role.BID, vote=1, seen=frozenset({1, 3, 16}),
        name="io3")
    values.update(changes)
    return Slot(**values)  # type: ignore[arg-type]


# -- blocks ----------------------------------------------------------------------------

@given(label=st.text(min_size=1, max_size=20).filter(lambda s: "\0" not in s),
       cell=st.text(max_size=8).filter(lambda s: "\0" not in s),
       nodes=st.integers(1, MAX_NODES), created=st.floats(0, 4e9))
def test_header_round_trip(label: str, cell: str, nodes: int, created: float) -> None:
    header = Header(label=label, cell=cell, max_nodes=nodes, uuid=UUID, created=created)
    block = encode_header(header)
    assert len(block) == BLOCK_SIZE
    assert decode_header(block) == header


SLOTS = st.builds(
    a_slot, st.integers(1, MAX_NODES), seq=st.integers(0, 2**64 - 1),
    seen=st.frozensets(st.integers(1, MAX_NODES)), role=st.sampled_from(Role),
    state=st.sampled_from(SlotState), score_ok=st.booleans(), vote=st.integers(0, 16),
    holding=st.booleans(), quorate=st.booleans(),
    name=st.text(max_size=8).filter(lambda s: "\0" not in s))


@given(SLOTS)
def test_slot_round_trip(slot: Slot) -> None:
    assert decode_slot(encode_slot(slot), slot.node_id) == slot


def _flags_byte(block: bytes) -> int:
    """The slot's flags byte (offset fixed by the layout: magic .. vote, then flags)."""
    return block[61]


def test_quorate_is_one_new_bit_that_old_slots_lack() -> None:
    """The quorate flag is bit 0x04 and nothing else changes, so a reader of the first
    format (which masks 0x01 and 0x02) reads the same slot; a slot of that first format
    (never any 0x04) reads as not quorate: such a peer is waited for, as before."""
    plain, quorate = encode_slot(a_slot(holding=True)), encode_slot(a_slot(holding=True,
                                                                          quorate=True))
    assert _flags_byte(plain) == 0x03 and _flags_byte(quorate) == 0x07
    assert plain[:61] == quorate[:61] and plain[62:-4] == quorate[62:-4]
    old = decode_slot(plain, 3)
    assert old is not None and old.holding and not old.quorate


@pytest.mark.parametrize("offset", [0, 5, 40, 300, BLOCK_SIZE - 5, BLOCK_SIZE - 1])
def test_any_flipped_byte_is_caught(offset: int) -> None:
    header = Header(label="qd", cell="c", max_nodes=4, uuid=UUID, created=1.0)
    for block, decode in ((encode_header(header), decode_header),
                          (encode_slot(a_slot()), lambda b: decode_slot(b, 3))):
        damaged = bytearray(block)
        damaged[offset] ^= 0x40
        with pytest.raises(QdiskFormatError):
            decode(bytes(damaged))


def test_checksum_is_named_when_only_the_body_changed() -> None:
    damaged = bytearray(encode_slot(a_slot()))
    damaged[100] = 0xFF  # in the padding: every field still parses
    with pytest.raises(QdiskFormatError, match="checksum mismatch"):
        decode_slot(bytes(damaged), 3)


def test_blank_and_foreign_blocks() -> None:
    with pytest.raises(QdiskFormatError, match="blank"):
        decode_header(bytes(BLOCK_SIZE))
    with pytest.raises(QdiskFormatError, match="not a tandem quorum disk"):
        decode_header(b"\x53\xef" + bytes(BLOCK_SIZE - 2))
    assert decode_slot(bytes(BLOCK_SIZE), 2) is None
    with pytest.raises(QdiskFormatError, match="belong to node 3"):
        decode_slot(encode_slot(a_slot(3)), 2)


def test_wrong_version_is_refused() -> None:
    header = Header(label="qd", cell="", max_nodes=2, uuid=UUID, created=0.0, version=9)
    with pytest.raises(QdiskFormatError, match="version 9 is not supported"):
        decode_header(encode_header(header))


@pytest.mark.parametrize(("changes", "problem"), [
    ({"label": ""}, "needs a label"),
    ({"label": "x" * 65}, "too long"),
    ({"max_nodes": 17}, "slot count"),
    ({"uuid": b"short"}, "16 bytes"),
])
def test_header_values_are_checked(changes: dict[str, object], problem: str) -> None:
    values: dict[str, object] = dict(label="qd", cell="", max_nodes=2, uuid=UUID,
                                     created=0.0)
    values.update(changes)
    with pytest.raises(QdiskFormatError, match=problem):
        encode_header(Header(**values))  # type: ignore[arg-type]


# -- the device ---------------------------------------------------------------------------

def test_init_then_read_and_write_slots(tmp_path: Path) -> None:
    path = disk_file(tmp_path)
    header = init_disk(path, "cell2-qd", cell="cell2", max_nodes=4)
    with QdiskDevice(path) as dev:
        image = dev.read_image()
        assert image.header == header
        assert [r.slot for r in image.slots] == [None] * 4
        slot = a_slot(2, disk_uuid=header.uuid)
        dev.write_slot(header, slot)
        assert dev.read_image().record(2).slot == slot
        with pytest.raises(QdiskError, match=r"slots 1\.\.4"):
            dev.write_slot(header, a_slot(5, disk_uuid=header.uuid))
    # What the device wrote is where the format says, byte for byte.
    raw = Path(path).read_bytes()
    assert raw[2 * BLOCK_SIZE:3 * BLOCK_SIZE] == encode_slot(slot)


def test_a_torn_slot_reads_as_an_error_record_and_a_stale_one_as_empty(
        tmp_path: Path) -> None:
    path = disk_file(tmp_path)
    header = init_disk(path, "qd", max_nodes=3)
    with QdiskDevice(path) as dev:
        dev.write_slot(header, a_slot(1, disk_uuid=header.uuid))
        dev.write_slot(header, a_slot(2, disk_uuid=bytes(16)))  # from an older init
        block = bytearray(encode_slot(a_slot(3, disk_uuid=header.uuid)))
        block[2000:] = bytes(len(block) - 2000)  # only the first half made it
        dev.write_block(3, bytes(block))
        image = dev.read_image()
    assert image.record(1).slot is not None and image.record(1).readable
    assert image.record(2).slot is None and image.record(2).readable
    assert image.record(3).slot is None and "checksum" in image.record(3).error


def test_init_refuses_an_existing_quorum_disk_or_data_unless_forced(tmp_path: Path) -> None:
    path = disk_file(tmp_path)
    first = init_disk(path, "one", cell="c1")
    with pytest.raises(QdiskError, match="already a quorum disk labelled 'one', cell c1"):
        init_disk(path, "two")
    second = init_disk(path, "two", force=True)
    assert second.uuid != first.uuid
    other = disk_file(tmp_path, "used.img")
    with open(other, "r+b") as handle:
        handle.seek(1024 + 56)
        handle.write(b"\x53\xef")  # an ext4 superblock magic, say
    with pytest.raises(QdiskError, match="holds data"):
        init_disk(other, "qd")
    assert init_disk(other, "qd", force=True).label == "qd"


def test_device_errors_are_one_line_and_typed(tmp_path: Path) -> None:
    with pytest.raises(QdiskIOError, match="cannot open: No such file"):
        QdiskDevice(str(tmp_path / "missing"))
    small = disk_file(tmp_path, "small.img", size=BLOCK_SIZE * 3)
    with pytest.raises(QdiskError, match="too small for 16 slots"):
        init_disk(small, "qd")
    init_disk(small, "qd", max_nodes=2)
    os.truncate(small, BLOCK_SIZE * 2)
    with QdiskDevice(small) as dev, pytest.raises(QdiskIOError, match="short read"):
        dev.read_image()
    blank = disk_file(tmp_path, "blank.img")
    with QdiskDevice(blank, writable=False) as dev, \
            pytest.raises(QdiskFormatError, match="blank: not initialised"):
        dev.read_header()
