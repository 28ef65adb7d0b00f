"""Frame encoding: round trips, every refusal reason, and fuzzing of the decoder."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.wire import (
    MAX_PACKET,
    BadMac,
    BadMagic,
    BadPacket,
    BadPayload,
    MalformedPacket,
    Message,
    MsgType,
    OversizedPacket,
    PayloadTooLarge,
    TruncatedPacket,
    UnknownType,
    UnsupportedVersion,
    WrongCluster,
    cluster_hash,
    decode,
    dump_json,
    encode,
    load_json,
)
from tandem.wire.message import HEADER_SIZE, MAX_PAYLOAD, TAG_SIZE

KEY = bytes(range(32))
CELL = cluster_hash("cell2")


def _msg(payload: bytes = b'{"hears":[2]}', **changes: object) -> Message:
    fields: dict[str, object] = dict(msg_type=MsgType.HEARTBEAT, cluster=CELL, sender=1, ring=0,
                                     incarnation=1_700_000_000_000_000_000, seq=42,
                                     payload=payload)
    fields.update(changes)
    return Message(**fields)  # type: ignore[arg-type]


def test_round_trip_keeps_every_field() -> None:
    msg = _msg(msg_type=MsgType.REPLY, sender=255, ring=7, incarnation=2**64 - 1, seq=2**64 - 1)
    frame = encode(msg, KEY)
    assert len(frame) == HEADER_SIZE + len(msg.payload) + TAG_SIZE
    assert decode(frame, KEY, CELL) == msg


@pytest.mark.parametrize("msg_type", list(MsgType))
def test_round_trip_every_type_and_empty_payload(msg_type: MsgType) -> None:
    msg = _msg(b"", msg_type=msg_type)
    assert decode(encode(msg, KEY), KEY, CELL) == msg


def test_largest_payload_fits_and_one_more_byte_does_not() -> None:
    big = _msg(b"x" * MAX_PAYLOAD)
    frame = encode(big, KEY)
    assert len(frame) == MAX_PACKET
    assert decode(frame, KEY, CELL) == big
    with pytest.raises(PayloadTooLarge):
        encode(_msg(b"x" * (MAX_PAYLOAD + 1)), KEY)


@pytest.mark.parametrize("changes", [
    {"sender": -1}, {"sender": 65536}, {"ring": 256}, {"seq": 2**64}, {"incarnation": -1},
    {"cluster": b"short"},
])
def test_encode_refuses_out_of_range_fields(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        encode(_msg(b"{}", **changes), KEY)


def _patch(frame: bytes, offset: int, fmt: str, value: object) -> bytes:
    out = bytearray(frame)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def _resign(body: bytes) -> bytes:
    import hashlib
    import hmac
    return body + hmac.digest(KEY, body, hashlib.sha256)


GOOD = encode(_msg(), KEY)


@pytest.mark.parametrize(("data", "error", "reason"), [
    (b"", TruncatedPacket, "truncated"),
    (GOOD[: HEADER_SIZE + TAG_SIZE - 1], TruncatedPacket, "truncated"),
    (GOOD[:-1], TruncatedPacket, "truncated"),
    (GOOD + b"\0", MalformedPacket, "malformed"),
    (b"\0" * (MAX_PACKET + 1), OversizedPacket, "oversized"),
    (b"XNDM" + GOOD[4:], BadMagic, "bad_magic"),
    (_patch(GOOD, 4, "!B", 2), UnsupportedVersion, "bad_version"),
    (encode(_msg(cluster=cluster_hash("other")), KEY), WrongCluster, "wrong_cluster"),
    (encode(_msg(), bytes(32)), BadMac, "bad_mac"),
    (GOOD[:-1] + bytes([GOOD[-1] ^ 1]), BadMac, "bad_mac"),
    (_patch(GOOD, 28, "!Q", 43), BadMac, "bad_mac"),  # seq
    (_patch(GOOD, 18, "!B", 1), BadMac, "bad_mac"),  # ring
    (_resign(_patch(GOOD, 5, "!B", 99)[:-TAG_SIZE]), UnknownType, "unknown_type"),
])
def test_each_corruption_is_refused_with_its_reason(
        data: bytes, error: type[BadPacket], reason: str) -> None:
    with pytest.raises(error) as info:
        decode(data, KEY, CELL)
    assert info.value.reason == reason


def test_wrong_cluster_is_reported_even_with_the_wrong_key() -> None:
    foreign = encode(_msg(cluster=cluster_hash("cell9")), bytes(32))
    with pytest.raises(WrongCluster):
        decode(foreign, KEY, CELL)


def test_cluster_hash_differs_per_name_and_is_stable() -> None:
    assert cluster_hash("cell2") == CELL
    assert cluster_hash("cell3") != CELL
    assert len(CELL) == 8


def test_json_helpers() -> None:
    payload = dump_json({"b": 1, "a": [1, 2]})
    assert payload == b'{"a":[1,2],"b":1}'
    assert _msg(payload).json() == {"a": [1, 2], "b": 1}
    for bad in (b"[1]", b"\xff", b"{", b"nan", b'"s"'):
        with pytest.raises(BadPayload):
            load_json(bad)
    with pytest.raises(ValueError):
        dump_json({"x": float("nan")})


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_decode_of_random_bytes_only_raises_bad_packet(data: bytes) -> None:
    with pytest.raises(BadPacket):
        decode(data, KEY, CELL)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_decode_of_random_bytes_after_a_valid_prefix(tail: bytes) -> None:
    with pytest.raises(BadPacket):
        decode(GOOD[:HEADER_SIZE] + tail, KEY, CELL)


@settings(max_examples=600, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 255)),
                min_size=1, max_size=6),
       st.integers(-8, 8))
def test_decode_of_mutated_frames(edits: list[tuple[int, int]], resize: int) -> None:
    data = bytearray(GOOD)
    for offset, value in edits:
        data[offset] = value
    if resize > 0:
        data += bytes(resize)
    elif resize < 0:
        del data[resize:]
    try:
        msg = decode(bytes(data), KEY, CELL)
    except BadPacket:
        return
    assert bytes(data) == GOOD  # only an unchanged frame may verify
    assert msg == _msg()
