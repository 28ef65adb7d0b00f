"""Heartbeats over real loopback rings into a real failure detector."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from tandem.membership import (
    FailureDetector,
    HeartbeatPayload,
    HeartbeatSender,
    RingState,
    record_heartbeat,
)
from tandem.wire import BadPayload, Message, MsgType, RingPlan, Rings

KEY = bytes(range(32))
INTERVAL = 0.02


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _plans() -> tuple[list[RingPlan], list[RingPlan]]:
    """Two rings, node 1 on 127.0.0.1 and node 2 on 127.0.0.2."""
    mine, theirs = [], []
    for ring in (0, 1):
        a = ("127.0.0.1", _free_port("127.0.0.1"))
        b = ("127.0.0.2", _free_port("127.0.0.2"))
        mine.append(RingPlan(ring=ring, bind=a, peers={2: b}))
        theirs.append(RingPlan(ring=ring, bind=b, peers={1: a}))
    return mine, theirs


def _rings(plans: list[RingPlan], local_id: int,
           on_message: Callable[[Message, int, float], None]) -> Rings:
    return Rings(plans, key=KEY, cluster="cell2", local_id=local_id, incarnation=local_id,
                 on_message=on_message)


def test_heartbeats_reach_the_peer_detector_on_every_ring() -> None:
    beats = 10
    bodies: list[tuple[int, HeartbeatPayload]] = []
    detector = FailureDetector(2, [1], [0, 1], token_s=60.0)

    def receive(msg: Message, ring: int, now: float) -> None:
        assert msg.msg_type is MsgType.HEARTBEAT
        bodies.append((ring, record_heartbeat(detector, msg, ring, now)))

    async def main() -> float:
        mine, theirs = _plans()
        sender_rings = _rings(mine, 1, lambda m, r, t: None)
        receiver_rings = _rings(theirs, 2, receive)
        await sender_rings.open()
        await receiver_rings.open()
        try:
            sender = HeartbeatSender(sender_rings, interval_s=INTERVAL, config_version=3,
                                     hears=lambda: [2], extra=lambda: {"svc": "web"})
            await sender.run(count=beats)
            for _ in range(500):
                if len(bodies) == 2 * beats:
                    break
                await asyncio.sleep(0.01)
            stats = sender.stats()
            assert stats.sent == beats and stats.errors == 0 and stats.skipped == 0
            assert stats.max_lag_s >= stats.mean_lag_s >= 0.0
            return asyncio.get_running_loop().time()
        finally:
            await sender_rings.aclose()
            await receiver_rings.aclose()

    now = asyncio.run(main())
    assert sorted(r for r, _ in bodies) == [0] * beats + [1] * beats
    expected = HeartbeatPayload(hears=frozenset({2}), config_version=3, extra={"svc": "web"})
    assert all(body == expected for _, body in bodies)
    view = detector.evaluate(now)
    assert view.members == frozenset({1, 2})
    assert dict(view.rings) == {0: RingState.UP, 1: RingState.UP}
    assert view.peers[1].incarnation == 1


def test_send_failures_are_counted_not_raised() -> None:
    async def main() -> None:
        mine, _ = _plans()
        closed = _rings(mine, 1, lambda m, r, t: None)  # never opened: send raises
        sender = HeartbeatSender(closed, interval_s=INTERVAL, config_version=1,
                                 hears=lambda: [])
        await sender.run(count=3)
        assert sender.stats().errors == 3 and sender.stats().sent == 0

        def broken() -> Mapping[str, Any]:
            raise RuntimeError("engine callback bug")
        sender = HeartbeatSender(closed, interval_s=INTERVAL, config_version=1,
                                 hears=lambda: [], extra=broken)
        assert sender.beat() is False
        assert sender.stats().errors == 1
    asyncio.run(main())


def test_a_blocked_loop_skips_beats_instead_of_bursting() -> None:
    blocked = 0.2

    async def main() -> None:
        mine, _ = _plans()
        rings = _rings(mine, 1, lambda m, r, t: None)
        await rings.open()
        calls = 0

        def extra() -> Mapping[str, Any]:
            nonlocal calls
            calls += 1
            if calls == 2:
                time.sleep(blocked)  # simulate the loop being stuck
            return {}
        try:
            sender = HeartbeatSender(rings, interval_s=INTERVAL, config_version=1,
                                     hears=lambda: [], extra=extra)
            await sender.run(count=20)
        finally:
            await rings.aclose()
        stats = sender.stats()
        assert stats.skipped >= int(blocked / INTERVAL) - 2
        assert stats.sent + stats.skipped >= 20
        assert stats.sent < 20
        assert stats.max_lag_s >= blocked - 2 * INTERVAL
    asyncio.run(main())


def test_start_and_stop_the_beats_on_the_loops_timers() -> None:
    async def main() -> None:
        mine, _ = _plans()
        rings = _rings(mine, 1, lambda m, r, t: None)
        await rings.open()
        try:
            sender = HeartbeatSender(rings, interval_s=INTERVAL, config_version=1,
                                     hears=lambda: [])
            sender.start()
            with pytest.raises(RuntimeError, match="already running"):
                sender.start()
            for _ in range(500):
                if sender.stats().sent >= 3:
                    break
                await asyncio.sleep(0.01)
            await sender.stop()
            assert not sender.running
            sent = sender.stats().sent
            assert sent >= 3
            await asyncio.sleep(3 * INTERVAL)
            assert sender.stats().sent == sent  # nothing after stop
        finally:
            await rings.aclose()
    asyncio.run(main())


@pytest.mark.parametrize("payload", [
    b"{}", b'{"hears":"2","cv":1}', b'{"hears":[true],"cv":1}', b'{"hears":[1],"cv":"1"}',
    b'{"hears":[1],"cv":1,"x":[]}', b'{"hears":[1],"cv":false}', b"[]", b"\x00",
])
def test_bad_heartbeat_payloads(payload: bytes) -> None:
    with pytest.raises(BadPayload):
        HeartbeatPayload.from_bytes(payload)


def test_payload_round_trip_and_compactness() -> None:
    body = HeartbeatPayload(hears=frozenset({3, 1}), config_version=12, extra={"a": 1})
    raw = body.to_bytes()
    assert raw == b'{"cv":12,"hears":[1,3],"x":{"a":1}}'
    assert HeartbeatPayload.from_bytes(raw) == body
    assert HeartbeatPayload.from_bytes(b'{"hears":[],"cv":1}').extra == {}


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        HeartbeatSender(_rings(_plans()[0], 1, lambda m, r, t: None), interval_s=0,
                        config_version=1, hears=lambda: [])
