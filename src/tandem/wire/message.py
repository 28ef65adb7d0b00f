"""The cluster frame: a fixed binary header, a payload and an HMAC-SHA256 tag.

Layout (network byte order, 40-byte header):

    magic "TNDM" | version u8 | type u8 | flags u16 | cluster hash 8 bytes |
    sender u16 | ring u8 | reserved u8 | incarnation u64 | seq u64 | payload length u32 |
    payload | HMAC-SHA256(key, everything before the tag) 32 bytes

The ring, incarnation and sequence number sit inside the authenticated header so a
receiver can refuse packets replayed from another ring or an earlier daemon life.
Cheap structural checks run before the MAC so that junk is classified precisely;
nothing after them is trusted until the tag verifies.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tandem.wire.errors import (
    BadMac,
    BadMagic,
    BadPayload,
    MalformedPacket,
    OversizedPacket,
    PayloadTooLarge,
    TruncatedPacket,
    UnknownType,
    UnsupportedVersion,
    WrongCluster,
)

MAGIC = b"TNDM"
VERSION = 1
MAX_PACKET = 60_000
TAG_SIZE = 32
CLUSTER_HASH_SIZE = 8
_HEADER = struct.Struct("!4sBBH8sHBBQQI")
HEADER_SIZE = _HEADER.size
MAX_PAYLOAD = MAX_PACKET - HEADER_SIZE - TAG_SIZE


class MsgType(enum.IntEnum):
    """What a frame carries; numbers are part of the wire format, never reuse one."""

    HEARTBEAT = 1
    STATE = 2
    REQUEST = 3
    REPLY = 4


@dataclass(frozen=True)
class Message:
    """One authenticated cluster message, as sent or as verified on receipt."""

    msg_type: MsgType
    cluster: bytes
    sender: int
    ring: int
    incarnation: int
    seq: int
    payload: bytes = b""

    def json(self) -> dict[str, Any]:
        """The payload as a JSON object; BadPayload if it is not one."""
        return load_json(self.payload)


def cluster_hash(name: str) -> bytes:
    """A short tag of the cell name, so cells sharing a network ignore each other."""
    return hashlib.sha256(b"tandem/cluster/" + name.encode("utf-8")).digest()[
        :CLUSTER_HASH_SIZE]


def encode(msg: Message, key: bytes) -> bytes:
    """The signed frame for `msg`; PayloadTooLarge or ValueError if it cannot be one."""
    if len(msg.payload) > MAX_PAYLOAD:
        raise PayloadTooLarge(f"payload of {len(msg.payload)} bytes exceeds {MAX_PAYLOAD}")
    if len(msg.cluster) != CLUSTER_HASH_SIZE:
        raise ValueError(f"cluster hash must be {CLUSTER_HASH_SIZE} bytes")
    try:
        header = _HEADER.pack(MAGIC, VERSION, int(msg.msg_type), 0, msg.cluster, msg.sender,
                              msg.ring, 0, msg.incarnation, msg.seq, len(msg.payload))
    except struct.error as exc:
        raise ValueError(f"header field out of range: {exc}") from None
    body = header + msg.payload
    return body + hmac.digest(key, body, "sha256")


def decode(data: bytes, key: bytes, cluster: bytes) -> Message:
    """Verify and parse one datagram; a BadPacket subclass says why it was refused."""
    size = len(data)
    if size > MAX_PACKET:
        raise OversizedPacket(f"{size} bytes, limit {MAX_PACKET}")
    if size < HEADER_SIZE + TAG_SIZE:
        raise TruncatedPacket(f"{size} bytes, shorter than header and tag")
    (magic, version, raw_type, _flags, their_cluster, sender, ring, _reserved,
     incarnation, seq, length) = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise BadMagic("not a tandem frame")
    if version != VERSION:
        raise UnsupportedVersion(f"frame version {version}, this build speaks {VERSION}")
    if their_cluster != cluster:
        raise WrongCluster("frame of another cluster")
    declared = HEADER_SIZE + length + TAG_SIZE
    if declared > size:
        raise TruncatedPacket(f"{size} bytes, header declares {declared}")
    if declared < size:
        raise MalformedPacket(f"{size} bytes, header declares {declared}")
    body = data[:-TAG_SIZE]
    if not hmac.compare_digest(hmac.digest(key, body, "sha256"), data[-TAG_SIZE:]):
        raise BadMac("authentication tag does not verify")
    try:
        msg_type = MsgType(raw_type)
    except ValueError:
        raise UnknownType(f"message type {raw_type}") from None
    return Message(msg_type=msg_type, cluster=bytes(their_cluster), sender=sender, ring=ring,
                   incarnation=incarnation, seq=seq, payload=bytes(body[HEADER_SIZE:]))


def dump_json(obj: Mapping[str, Any]) -> bytes:
    """Compact, deterministic JSON for a payload (no NaN, sorted keys)."""
    return json.dumps(obj, separators=(",", ":"), sort_keys=True,
                      allow_nan=False).encode("utf-8")


def load_json(payload: bytes) -> dict[str, Any]:
    """Parse a payload that must be a JSON object; BadPayload otherwise."""
    try:
        value = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BadPayload(f"payload is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadPayload(f"payload is JSON {type(value).__name__}, expected an object")
    return value
