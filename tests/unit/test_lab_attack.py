"""The lab's bad packets (tandem.lab.attack) against real ring endpoints on loopback:
none is accepted, each is dropped for the reason the attack module predicts, the genuine
traffic still flows; and the wiretap's frame parser. The lab test
(tests/lab/test_wire_attack.py) fires the same shots at a live cell."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import struct
from collections import Counter
from pathlib import Path

import pytest

from tandem.lab.attack import (
    CATEGORIES,
    STALE,
    AttackError,
    Frame,
    Shot,
    expected_reason,
    plan_shots,
    tally,
)
from tandem.lab.inject import shots_of
from tandem.lab.wiretap import udp_datagram
from tandem.wire import Message, MsgType, RingEndpoint, RingPlan, cluster_hash, encode

KEY = bytes(range(32))
CELL = "attacked"
CLUSTER = cluster_hash(CELL)
PER_RING = 60


def _port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def genuine(sender: int, ring: int, seq: int) -> bytes:
    return encode(Message(MsgType.HEARTBEAT, CLUSTER, sender, ring, 7, seq, b'{"x":1}'), KEY)


class Cell:
    """Node 2's endpoints on rings 0 and 1 (loopback), fed by node 1's genuine frames."""

    def __init__(self) -> None:
        self.delivered: list[Message] = []
        self.endpoints = {ring: RingEndpoint(
            RingPlan(ring, (f"127.0.1.{ring + 2}", _port(f"127.0.1.{ring + 2}")),
                     {1: ("127.0.1.1", 9)}),
            key=KEY, cluster=CELL, local_id=2, incarnation=5,
            on_message=lambda msg, _ring, _now: self.delivered.append(msg))
            for ring in (0, 1)}

    def address(self, ring: int) -> tuple[str, int]:
        return self.endpoints[ring].plan.bind

    def drops(self) -> dict[int, Counter[str]]:
        return {ring: Counter({k.removeprefix("drop_"): v for k, v in e.stats().items()
                               if k.startswith("drop_") and v})
                for ring, e in self.endpoints.items()}


async def fire(cell: Cell, sock: socket.socket, datagrams: list[tuple[int, bytes]]) -> None:
    for ring, data in datagrams:
        sock.sendto(data, cell.address(ring))
        await asyncio.sleep(0)  # the endpoint reads as we go (small socket buffers)
    for _ in range(50):
        await asyncio.sleep(0.01)


def test_no_bad_packet_is_accepted_and_each_is_dropped_as_predicted() -> None:
    async def main() -> None:
        cell = Cell()
        for endpoint in cell.endpoints.values():
            await endpoint.open()
        recorded = [Frame(2, genuine(1, ring, seq)) for ring in (0, 1) for seq in range(1, 21)]
        shots = plan_shots(random.Random(3), CLUSTER, {0: [2], 1: [2]}, recorded, PER_RING)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            await fire(cell, sock, [(f.ring, f.data) for f in recorded])
            assert len(cell.delivered) == 40 and not any(cell.drops().values())
            await fire(cell, sock, [(s.ring, s.data) for s in shots])
            assert len(cell.delivered) == 40, "a bad packet was accepted"
            for ring in (0, 1):
                expected = tally(shots)["2"][str(ring)]
                got = cell.drops()[ring]
                stale = got.pop("duplicate", 0) + got.pop("too_old", 0)
                assert stale == expected.pop(STALE)
                assert got == Counter(expected)
            await fire(cell, sock, [(0, genuine(1, 0, 21))])  # the real peer still gets in
            assert len(cell.delivered) == 41
        for endpoint in cell.endpoints.values():
            endpoint.close()
            await endpoint.wait_closed()

    asyncio.run(main())


def test_the_shots_cover_every_category_and_many_reasons() -> None:
    recorded = [Frame(n, genuine(3 - n, ring, seq)) for n in (1, 2) for ring in (0, 1)
                for seq in range(1, 11)]
    shots = plan_shots(random.Random(1), CLUSTER, {0: [1, 2], 1: [1, 2]}, recorded, 500)
    assert Counter((s.ring, s.category) for s in shots) == {
        (r, c): 500 for r in (0, 1) for c in CATEGORIES}
    assert Counter(s.node for s in shots) == {1: 2500, 2: 2500}
    reasons = Counter(s.reason for s in shots)
    assert reasons["bad_mac"] > 1000 and reasons["oversized"] == 1000
    assert {"bad_magic", "wrong_cluster", "malformed", "truncated", "wrong_ring",
            STALE} <= set(reasons)
    forged = next(s for s in shots if s.category == "forged")
    assert forged.data[16:18] != forged.node.to_bytes(2, "big")  # it poses as the peer


def test_a_plan_without_recorded_frames_is_refused_in_one_line() -> None:
    with pytest.raises(AttackError, match=r"^no frame to node 2 on ring 0 was recorded$"):
        plan_shots(random.Random(1), CLUSTER, {0: [2]}, [], 1)


def test_the_prediction_follows_the_receiver_checks_in_order() -> None:
    frame = genuine(1, 0, 1)
    assert expected_reason(frame, CLUSTER) == "bad_mac"  # structurally fine, tag is not ours
    assert expected_reason(b"", CLUSTER) == "truncated"
    assert expected_reason(b"XNDM" + frame[4:], CLUSTER) == "bad_magic"
    assert expected_reason(frame, cluster_hash("another")) == "wrong_cluster"
    assert expected_reason(frame + b"x", CLUSTER) == "malformed"


def test_the_injector_plan_is_reproducible(tmp_path: Path) -> None:
    plan = {"cluster": CELL, "port": 5405, "per_ring": 3, "rate": 100, "seed": 9,
            "nodes": {"2": {"0": "198.51.100.12"}},
            "frames": [{"dest": 2, "hex": genuine(1, 0, 1).hex()}]}
    first, again = shots_of(json.loads(json.dumps(plan))), shots_of(plan)
    assert first == again and len(first) == 15 and all(isinstance(s, Shot) for s in first)


def _ethernet(payload: bytes, dport: int, fragment: int = 0) -> bytes:
    udp = struct.pack("!HHHH", 4000, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, fragment, 64, 17, 0,
                     bytes([198, 51, 100, 11]), bytes([198, 51, 100, 12]))
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + udp


def test_the_wiretap_keeps_whole_datagrams_to_its_port() -> None:
    found = udp_datagram(_ethernet(b"frame", 5405), 5405)
    assert found is not None and found == ("198.51.100.11", "198.51.100.12", b"frame")
    assert udp_datagram(_ethernet(b"frame", 5406), 5405) is None
    assert udp_datagram(_ethernet(b"frame", 5405, fragment=0x2000), 5405) is None  # a piece
    assert udp_datagram(b"\x00" * 13, 5405) is None
