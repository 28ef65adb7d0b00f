"""Bad packets for a cell's heartbeat rings, each with the drop reason it must get.

What an attacker on a heartbeat network can send without the cluster key: frames it
signs with a key of its own (forged), genuine frames it recorded (replayed, to their
destination on their ring or on another ring), genuine frames cut short (truncated) or
with bits flipped, and datagrams larger than any frame (oversized). The forged frames
name a real peer, the target's ring and a huge incarnation: accepted once, they would
make a dead node look alive and lock the real one out of the replay window.

Pure (a seeded random source in, bytes out), so the same shots can be fired at a live
cell from a lab namespace (tandem.lab.inject) and checked in a unit test against a real
endpoint. The expected reason of a damaged frame is worked out with the receiver's own
decoder and a wrong key: every structural check comes before the tag, and no tag
verifies for a frame that was altered (or signed with the attacker's key), so the
receiver must drop it for the same reason.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tandem.lab.proc import LabError
from tandem.membership.heartbeat import HeartbeatPayload
from tandem.wire.errors import BadPacket
from tandem.wire.message import HEADER_SIZE, MAX_PACKET, TAG_SIZE, Message, MsgType, decode, encode

CATEGORIES = ("forged", "replayed", "truncated", "oversized", "bitflipped")
STALE = "duplicate+too_old"  # a replay on its own ring: one or the other, by its age
MAX_UDP = 65_507  # the largest UDP payload over IPv4
_RING_OFFSET = 18  # magic 4, version 1, type 1, flags 2, cluster 8, sender 2
_SENDER_OFFSET = 16
_ATTACKER_KEY = b"attacker's own key, not the cell's"
_CHECK_KEY = b"a third key, to tell where the receiver drops a frame"
CROSS_RING_SHARE = 10  # one replay in ten goes to the same node on another ring


class AttackError(LabError):
    """The plan cannot be carried out (no frame recorded for a ring, ...)."""


@dataclass(frozen=True)
class Frame:
    """A genuine frame recorded on the wire, and the node it was sent to."""

    dest: int
    data: bytes

    @property
    def ring(self) -> int:
        return self.data[_RING_OFFSET]

    @property
    def sender(self) -> int:
        return int.from_bytes(self.data[_SENDER_OFFSET:_SENDER_OFFSET + 2], "big")


@dataclass(frozen=True)
class Shot:
    """One datagram for `node` on `ring`, and the drop reason it must get."""

    node: int
    ring: int
    category: str
    data: bytes
    reason: str


def expected_reason(data: bytes, cluster: bytes) -> str:
    """The reason the receiver drops an altered or unsigned frame (see module doc)."""
    try:
        decode(data, _CHECK_KEY, cluster)
    except BadPacket as exc:
        return exc.reason
    raise AttackError("a frame verified under a key of nobody's")


def forged(rng: random.Random, cluster: bytes, sender: int, ring: int) -> bytes:
    """A well-formed heartbeat of `sender` signed with a key that is not the cell's."""
    body = HeartbeatPayload(hears=frozenset({sender}), config_version=rng.randrange(1, 1000))
    return encode(Message(MsgType.HEARTBEAT, cluster, sender, ring,
                          incarnation=rng.randrange(1 << 62, 1 << 63),
                          seq=rng.randrange(1, 1 << 40), payload=body.to_bytes()),
                  _ATTACKER_KEY)


def truncated(rng: random.Random, frame: bytes) -> bytes:
    """`frame` cut anywhere before its end (possibly to nothing)."""
    return frame[:rng.randrange(0, len(frame))]


def oversized(rng: random.Random, frame: bytes) -> bytes:
    """`frame`'s header with a payload that makes the datagram longer than any frame."""
    size = rng.randrange(MAX_PACKET + 1, MAX_UDP + 1)
    return frame[:HEADER_SIZE] + rng.randbytes(size - HEADER_SIZE - TAG_SIZE) \
        + frame[-TAG_SIZE:]


def bitflipped(rng: random.Random, frame: bytes) -> bytes:
    """`frame` with one to three bits flipped anywhere (header, payload or tag)."""
    damaged = bytearray(frame)
    for bit in rng.sample(range(len(frame) * 8), rng.randint(1, 3)):
        damaged[bit // 8] ^= 1 << (bit % 8)
    return bytes(damaged)


def plan_shots(rng: random.Random, cluster: bytes, rings: Mapping[int, Sequence[int]],
               frames: Sequence[Frame], per_ring: int) -> list[Shot]:
    """`per_ring` shots of each category on each ring (`rings`: ring -> the nodes on it),
    spread evenly over the nodes, in a shuffled order."""
    armory = _Armory(rng, cluster, rings, frames)
    shots: list[Shot] = []
    for ring, nodes in sorted(rings.items()):
        for index in range(per_ring * len(CATEGORIES)):
            category = CATEGORIES[index % len(CATEGORIES)]
            node = nodes[(index // len(CATEGORIES)) % len(nodes)]
            shots.append(armory.shot(ring, node, category))
    rng.shuffle(shots)
    return shots


@dataclass(frozen=True)
class _Armory:
    """What the shots are made from."""

    rng: random.Random
    cluster: bytes
    rings: Mapping[int, Sequence[int]]
    frames: Sequence[Frame]

    def shot(self, ring: int, node: int, category: str) -> Shot:
        rng = self.rng
        if category == "forged":
            sender = rng.choice([n for n in self.rings[ring] if n != node] or [node + 1])
            data = forged(rng, self.cluster, sender, ring)
        elif category == "replayed":
            cross = [r for r in self.rings if r != ring and node in self.rings[r]]
            if cross and rng.randrange(CROSS_RING_SHARE) == 0:
                # Recorded on another ring, sent here: its ring number is authenticated.
                data = self.recorded(rng.choice(cross), node)
                return Shot(node, ring, category, data, "wrong_ring")
            return Shot(node, ring, category, self.recorded(ring, node), STALE)
        else:
            damage = {"truncated": truncated, "oversized": oversized,
                      "bitflipped": bitflipped}[category]
            data = damage(rng, self.recorded(ring, node))
        return Shot(node, ring, category, data, expected_reason(data, self.cluster))

    def recorded(self, ring: int, node: int) -> bytes:
        choices = [f for f in self.frames if f.ring == ring and f.dest == node]
        if not choices:
            raise AttackError(f"no frame to node {node} on ring {ring} was recorded")
        return self.rng.choice(choices).data


def tally(shots: Sequence[Shot]) -> dict[str, dict[str, dict[str, int]]]:
    """node -> ring -> expected reason -> count (the keys as strings, for JSON)."""
    found: dict[str, dict[str, dict[str, int]]] = {}
    for shot in shots:
        reasons = found.setdefault(str(shot.node), {}).setdefault(str(shot.ring), {})
        reasons[shot.reason] = reasons.get(shot.reason, 0) + 1
    return found
