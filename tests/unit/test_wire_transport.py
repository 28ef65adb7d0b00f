"""Ring endpoints over loopback: real sockets, real forgeries, replays and junk."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tandem.config import parse_config
from tandem.wire import (
    MAX_PACKET,
    Message,
    MsgType,
    RingEndpoint,
    RingPlan,
    Rings,
    TransportError,
    cluster_hash,
    encode,
    plan_rings,
)

KEY = bytes(range(32))
CELL = "cell2"
INC1, INC2 = 1_000, 2_000
Received = list[tuple[Message, int, float]]


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def _until(pred: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (bounded) until `pred` holds; fail the test otherwise."""
    for _ in range(int(timeout / 0.01)):
        if pred():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in time")


async def _settle() -> None:
    """Give datagrams already sent on loopback time to be handled."""
    for _ in range(5):
        await asyncio.sleep(0.01)


@contextmanager
def _raw(host: str = "127.0.0.3") -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((host, 0))
        sock.settimeout(5.0)
        yield sock
    finally:
        sock.close()


def _endpoint(plan: RingPlan, local_id: int, inc: int, got: Received,
              handler: Callable[[Message, int, float], None] | None = None) -> RingEndpoint:
    def collect(msg: Message, ring: int, now: float) -> None:
        got.append((msg, ring, now))
    return RingEndpoint(plan, key=KEY, cluster=CELL, local_id=local_id, incarnation=inc,
                        on_message=handler or collect)


def _pair_plans() -> tuple[RingPlan, RingPlan]:
    a = ("127.0.0.1", _free_port("127.0.0.1"))
    b = ("127.0.0.2", _free_port("127.0.0.2"))
    return RingPlan(ring=0, bind=a, peers={2: b}), RingPlan(ring=0, bind=b, peers={1: a})


def test_messages_flow_both_ways() -> None:
    async def main() -> None:
        got_a: Received = []
        got_b: Received = []
        plan_a, plan_b = _pair_plans()
        a, b = _endpoint(plan_a, 1, INC1, got_a), _endpoint(plan_b, 2, INC2, got_b)
        await a.open()
        try:
            await b.open()
            seq = a.send(MsgType.HEARTBEAT, b'{"hears":[]}')
            b.send(MsgType.REPLY, b"pong", [1])
            await _until(lambda: len(got_a) == 1 and len(got_b) == 1)
        finally:
            a.close()
            b.close()
        msg, ring, now = got_b[0]
        assert (msg.sender, msg.ring, msg.seq, msg.incarnation) == (1, 0, seq, INC1)
        assert (msg.msg_type, msg.payload, ring) == (MsgType.HEARTBEAT, b'{"hears":[]}', 0)
        assert isinstance(now, float)
        assert got_a[0][0].msg_type is MsgType.REPLY
        assert got_a[0][0].sender == 2
        assert a.stats()["tx_ok"] == 1
        assert b.stats()["rx_ok"] == 1
        assert "priority" in a.socket_options
        # Room for bursts beyond net.core.rmem_max, as root (tandemd is).
        assert ("rcvbuf" in a.socket_options) == (os.geteuid() == 0)
    asyncio.run(main())


def _frame(**changes: object) -> bytes:
    fields: dict[str, object] = dict(msg_type=MsgType.HEARTBEAT, cluster=cluster_hash(CELL),
                                     sender=1, ring=0, incarnation=INC1, seq=1, payload=b"{}")
    key = changes.pop("key", KEY)
    fields.update(changes)
    return encode(Message(**fields), key)  # type: ignore[arg-type]


JUNK = [
    ("drop_bad_mac", _frame(key=bytes(32), seq=500)),
    ("drop_truncated", _frame(seq=501)[:30]),
    ("drop_truncated", _frame(seq=502)[:-1]),
    ("drop_oversized", b"\0" * (MAX_PACKET + 1)),
    ("drop_bad_magic", b"GET / HTTP/1.0\r\n\r\n" + bytes(80)),
    ("drop_wrong_cluster", _frame(cluster=cluster_hash("cell9"), seq=503)),
    ("drop_wrong_ring", _frame(ring=1, seq=504)),
    ("drop_unknown_sender", _frame(sender=9, seq=505)),
    ("drop_own_id", _frame(sender=2, seq=506)),
]


def test_forged_replayed_and_junk_packets_are_dropped_and_counted() -> None:
    async def main() -> None:
        got: Received = []
        plan_a, plan_b = _pair_plans()
        b = _endpoint(plan_b, 2, INC2, got)
        await b.open()
        with _raw() as raw:
            # node 1's real endpoint sends through `raw`, which plays man in the middle
            a = _endpoint(RingPlan(ring=0, bind=plan_a.bind, peers={2: raw.getsockname()}),
                          1, INC1, [])
            await a.open()
            try:
                a.send(MsgType.STATE, b'{"s":1}')
                captured = await asyncio.get_running_loop().run_in_executor(
                    None, raw.recv, 65536)
                for _ in range(3):
                    raw.sendto(captured, plan_b.bind)
                for _, data in JUNK:
                    raw.sendto(data, plan_b.bind)
                raw.sendto(_frame(incarnation=INC1 + 1, seq=1), plan_b.bind)
                raw.sendto(_frame(incarnation=INC1, seq=9), plan_b.bind)  # older life
                await _until(lambda: b.stats()["drop_old_incarnation"] == 1)
                await _settle()
            finally:
                a.close()
                b.close()
        stats = b.stats()
        assert [m.payload for m, _, _ in got] == [b'{"s":1}', b"{}"]
        assert stats["rx_ok"] == 2
        assert stats["drop_duplicate"] == 2
        for counter in {name for name, _ in JUNK}:
            expected = sum(1 for name, _ in JUNK if name == counter)
            assert stats[counter] == expected, counter
    asyncio.run(main())


def test_endpoint_survives_junk_and_a_failing_handler() -> None:
    async def main() -> None:
        got: Received = []
        calls: list[int] = []

        def handler(msg: Message, ring: int, now: float) -> None:
            calls.append(msg.seq)
            if msg.seq == 1:
                raise RuntimeError("handler bug")
            got.append((msg, ring, now))

        plan_a, plan_b = _pair_plans()
        a, b = _endpoint(plan_a, 1, INC1, []), _endpoint(plan_b, 2, INC2, [], handler)
        await a.open()
        await b.open()
        try:
            a.send(MsgType.HEARTBEAT, b"{}")          # handler raises on this one
            with _raw() as raw:
                for _ in range(50):
                    raw.sendto(b"\xff" * 100, plan_b.bind)
                    raw.sendto(b"", plan_b.bind)
            a.send(MsgType.HEARTBEAT, b"{}")
            await _until(lambda: len(got) == 1)
            await _until(lambda: b.stats()["drop_bad_magic"] == 50)
            await _until(lambda: b.stats()["drop_truncated"] == 50)
        finally:
            a.close()
            b.close()
        assert calls == [1, 2]
        assert b.stats()["drop_callback_error"] == 1
        assert b.stats()["rx_ok"] == 1
    asyncio.run(main())


def test_send_to_an_unknown_node_or_on_a_closed_endpoint_raises() -> None:
    async def main() -> None:
        plan_a, _ = _pair_plans()
        a = _endpoint(plan_a, 1, INC1, [])
        with pytest.raises(TransportError, match="not open"):
            a.send(MsgType.HEARTBEAT, b"{}")
        await a.open()
        try:
            with pytest.raises(TransportError, match="already open"):
                await a.open()
            with pytest.raises(TransportError, match="no address for node"):
                a.send(MsgType.HEARTBEAT, b"{}", [7])
            assert a.bound == plan_a.bind
        finally:
            a.close()
        a.close()
        with pytest.raises(TransportError, match="not open"):
            a.send(MsgType.HEARTBEAT, b"{}")
    asyncio.run(main())


def test_bind_conflict_is_a_transport_error() -> None:
    async def main() -> None:
        plan_a, _ = _pair_plans()
        a, again = _endpoint(plan_a, 1, INC1, []), _endpoint(plan_a, 1, INC1, [])
        await a.open()
        try:
            with pytest.raises(TransportError, match="cannot bind"):
                await again.open()
        finally:
            a.close()
        with pytest.raises(TransportError, match="not an IP address"):
            await _endpoint(RingPlan(ring=0, bind=("localhost", 1), peers={}), 1, 1,
                            []).open()
    asyncio.run(main())


LOOPBACK_CELL = """
[cluster]
name = "cell2"
key_file = "/nonexistent/cluster.key"
port = {port}

[networks.admin]
ring = 0

[networks.backbone]
ring = 1

[[nodes]]
name = "node1"
id = 1
networks.admin = {{ interface = "eth0", address = "127.0.0.1/24" }}
networks.backbone = {{ interface = "eth1", address = "127.0.1.1/24" }}

[[nodes]]
name = "node2"
id = 2
networks.admin = {{ interface = "eth0", address = "127.0.0.2/24" }}
networks.backbone = {{ interface = "eth1", address = "127.0.1.2/24" }}
"""


def _port_free_everywhere(hosts: list[str]) -> int:
    for _ in range(20):
        port = _free_port(hosts[0])
        socks = []
        try:
            for host in hosts:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(sock)
                sock.bind((host, port))
            return port
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise AssertionError("no common free port")


def test_rings_from_config_send_on_every_ring() -> None:
    port = _port_free_everywhere(["127.0.0.1", "127.0.0.2", "127.0.1.1", "127.0.1.2"])
    config = parse_config(LOOPBACK_CELL.format(port=port))

    async def main() -> None:
        got1: Received = []
        got2: Received = []
        r1 = Rings.from_config(config, "node1", key=KEY, incarnation=INC1,
                               on_message=lambda m, r, t: got1.append((m, r, t)))
        r2 = Rings.from_config(config, "node2", key=KEY, incarnation=INC2,
                               on_message=lambda m, r, t: got2.append((m, r, t)))
        await r1.open()
        try:
            await r2.open()
            seq = r1.send(MsgType.HEARTBEAT, b"{}")
            r2.send(MsgType.STATE, b"{}", [1])
            await _until(lambda: len(got2) == 2 and len(got1) == 2)
            with pytest.raises(TransportError, match="no ring reaches node"):
                r1.send(MsgType.REQUEST, b"{}", [3])
        finally:
            r1.close()
            r2.close()
        assert sorted(r for _, r, _ in got2) == [0, 1]
        assert {(m.sender, m.seq, m.ring) for m, _, _ in got2} == {(1, seq, 0), (1, seq, 1)}
        assert r2.stats()[1]["rx_ok"] == 1
        assert r1.stats()[0]["tx_ok"] == 1
    asyncio.run(main())


def test_rings_open_all_or_none() -> None:
    async def main() -> None:
        plan_a, _ = _pair_plans()
        blocker = _endpoint(plan_a, 1, INC1, [])
        await blocker.open()
        try:
            free = ("127.0.0.1", _free_port("127.0.0.1"))
            rings = Rings([RingPlan(ring=0, bind=free, peers={}),
                           RingPlan(ring=1, bind=plan_a.bind, peers={})],
                          key=KEY, cluster=CELL, local_id=1, incarnation=1,
                          on_message=lambda m, r, t: None)
            with pytest.raises(TransportError):
                await rings.open()
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.bind(free)  # ring 0 was released again
        finally:
            blocker.close()
        with pytest.raises(TransportError, match="repeat"):
            Rings([plan_a, plan_a], key=KEY, cluster=CELL, local_id=1, incarnation=1,
                  on_message=lambda m, r, t: None)
    asyncio.run(main())


def test_plan_rings_from_the_example_cell() -> None:
    from tandem.config import load_config
    config = load_config(Path(__file__).parents[2] / "examples" / "cell2.toml")
    plans = plan_rings(config, "node1")
    assert [(p.ring, p.network, p.bind) for p in plans] == [
        (0, "admin", ("198.51.100.11", 5405)), (1, "backbone", ("203.0.113.11", 5405))]
    assert [dict(p.peers) for p in plans] == [{2: ("198.51.100.12", 5405)},
                                              {2: ("203.0.113.12", 5405)}]
    assert plan_rings(config, "node2", port=6000)[0].peers == {1: ("198.51.100.11", 6000)}
    with pytest.raises(KeyError):
        plan_rings(config, "node9")
