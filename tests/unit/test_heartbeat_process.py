"""The heartbeat process and what links it to the engine: the shared page, the channel,
and two real heartbeat processes beating at each other on loopback, driven by the
engine's side (`HeartbeatLink`) as the engine drives it.

What must hold: time stamps reach the engine's detector without waking the engine for
every heartbeat; the claims the engine publishes ride in the heartbeats; a hung engine
stops its node's heartbeats (its peer sees it silent); a dead engine takes its heartbeat
process with it; a dead heartbeat process is reported to the engine."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tandem.config import ClusterConfig, parse_config
from tandem.daemon.hbchannel import Channel
from tandem.daemon.hblink import HeartbeatLink
from tandem.daemon.hbshm import SharedPage, SharedPageError
from tandem.daemon.network import Deliver, NetSetup, NetSnapshot
from tandem.membership.claims import HeartbeatClaims
from tandem.membership.detector import FailureDetector
from tandem.membership.heartbeat import HeartbeatPayload
from tandem.wire import Message, MsgType, TransportError

KEY = b"k" * 32


def test_shared_page_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "page"
    writer = SharedPage(path, [2, 3], [0, 1], create=True)
    reader = SharedPage(path, [2, 3], [0, 1], create=False)
    writer.heard(3, 1, 12.5)
    writer.feed(99.25)
    writer.put_stats({"rings": {"0": {"rx_ok": 4}}})
    assert reader.last_heard() == {(2, 0): 0.0, (2, 1): 0.0, (3, 0): 0.0, (3, 1): 12.5}
    assert reader.fed_at() == 99.25
    assert reader.stats() == {"rings": {"0": {"rx_ok": 4}}}
    writer.put_stats({"big": "x" * 20000})  # cut to the space there is: unreadable, empty
    assert reader.stats() == {}
    with pytest.raises(SharedPageError, match="not laid out"):
        SharedPage(path, [2, 3, 4], [0, 1], create=False)


def test_a_record_being_written_is_never_read_half_done(tmp_path: Path) -> None:
    page = SharedPage(tmp_path / "page", [2], [0], create=True)
    offset = page._slot(2, 0)
    page._map[offset] = 1  # odd sequence: a writer died in the middle of a write
    with pytest.raises(SharedPageError, match="stayed busy"):
        page.last_heard()


def test_channel_frames_and_close() -> None:
    async def scenario() -> tuple[list[tuple[object, ...]], bool]:
        a, b = socket.socketpair()
        got: list[tuple[object, ...]] = []
        closed = asyncio.Event()
        Channel(b, got.append, closed.set)
        sender = Channel(a, lambda _: None, lambda: None)
        big = b"x" * 300_000  # more than the socket takes at once
        sender.send("one", 1)
        sender.send("big", big)
        sender.send("last", None)
        for _ in range(500):
            if len(got) == 3:
                break
            await asyncio.sleep(0.01)
        sender.close()
        await asyncio.wait_for(closed.wait(), 5)
        return got, got[1] == ("big", big)

    got, big_ok = asyncio.run(scenario())
    assert [m[0] for m in got] == ["one", "big", "last"] and big_ok


def _free_port() -> int:
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as one:
            one.bind(("127.0.0.1", 0))
            port = int(one.getsockname()[1])
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as two:
                    two.bind(("127.0.0.2", port))
                return port
            except OSError:
                continue
    raise AssertionError("no free port on 127.0.0.1 and 127.0.0.2")


def loopback_cell(port: int) -> ClusterConfig:
    return parse_config(f"""
[cluster]
name = "hb"
key_file = "/nonexistent"
port = {port}
[timing]
heartbeat_ms = 50
token_ms = 300
[networks.admin]
ring = 0
[[nodes]]
name = "n1"
id = 1
networks.admin = {{ interface = "lo", address = "127.0.0.1/8" }}
[[nodes]]
name = "n2"
id = 2
networks.admin = {{ interface = "lo", address = "127.0.0.2/8" }}
""", "hb.toml")


@dataclass
class Engine:
    """What a test plays of the engine: a detector, what was delivered, failures."""

    name: str
    link: HeartbeatLink
    detector: FailureDetector
    lock: threading.Lock
    delivered: list[tuple[Message, HeartbeatPayload | None]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def recorder(into: list[tuple[Message, HeartbeatPayload | None]]) -> Deliver:
    def deliver(msg: Message, ring: int, at: float, body: HeartbeatPayload | None) -> None:
        into.append((msg, body))
    return deliver


@asynccontextmanager
async def pair(tmp_path: Path, engine_timeout: float = 5.0) -> AsyncIterator[
        tuple[Engine, Engine]]:
    config = loopback_cell(_free_port())
    engines = []
    for node, peer in (("n1", 2), ("n2", 1)):
        local = config.node(node).id
        detector = FailureDetector(local, [peer], [0], 0.3)
        lock = threading.Lock()
        delivered: list[tuple[Message, HeartbeatPayload | None]] = []
        failures: list[str] = []
        setup = NetSetup(config, node, KEY, 1000 + local, detector, lock,
                         asyncio.get_running_loop(), recorder(delivered),
                         run_dir=tmp_path / node, on_failure=failures.append, realtime=False)
        link = HeartbeatLink(setup)
        link.engine_timeout_s = engine_timeout
        engines.append(Engine(node, link, detector, lock, delivered, failures))
    try:
        for engine in engines:
            await engine.link.start()
        yield engines[0], engines[1]
    finally:
        for engine in engines:
            await engine.link.stop()


async def until(pred: Callable[[], bool], timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if pred():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


def feed_both(one: Engine, two: Engine) -> None:
    for engine in (one, two):
        engine.link.feed(time.monotonic())


def test_two_processes_hear_each_other_and_carry_the_claims(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with pair(tmp_path) as (one, two):
            claims = HeartbeatClaims(members=frozenset({1, 2}), quorate=True)
            one.link.publish(NetSnapshot(claims.to_wire()))

            def heard_claims() -> bool:
                feed_both(one, two)
                return any(b is not None and HeartbeatClaims.from_wire(b.extra) == claims
                           for _, b in two.delivered)

            await until(heard_claims)
            # The time stamps come through the page: pull, then the detector knows.
            await asyncio.sleep(0.2)
            feed_both(one, two)
            two.link.pull(two.detector, two.lock)
            view = two.detector.evaluate(time.monotonic())
            assert view.peers[1].alive and view.peers[1].member
            two.link.send(MsgType.STATE, b"hello", [1])
            await until(lambda: any(m.msg_type == MsgType.STATE and m.payload == b"hello"
                                    for m, _ in one.delivered))
            await until(lambda: two.link.stats().get(0, {}).get("rx_ok", 0) > 0)
            beats = two.link.heartbeat_stats()
            assert beats is not None and beats.sent > 0

    asyncio.run(scenario())


def test_a_hung_engine_stops_its_heartbeats(tmp_path: Path) -> None:
    """Node 1's engine stops feeding: within the engine timeout its heartbeats stop
    and node 2 finds it silent; fed again, it beats again."""
    async def scenario() -> None:
        async with pair(tmp_path, engine_timeout=0.5) as (one, two):
            def alive() -> bool:
                feed_both(one, two)
                two.link.pull(two.detector, two.lock)
                return two.detector.evaluate(time.monotonic()).peers[1].alive

            await until(alive)
            for _ in range(60):  # 1.2 s: only node 2 is fed
                two.link.feed(time.monotonic())
                await asyncio.sleep(0.02)
            two.link.pull(two.detector, two.lock)
            assert not two.detector.evaluate(time.monotonic()).peers[1].alive
            await until(alive)

    asyncio.run(scenario())


def test_a_dead_engine_takes_its_heartbeat_process_with_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with pair(tmp_path) as (one, _):
            process = one.link.process
            assert process is not None and process.poll() is None
            assert one.link.channel is not None
            one.link.channel.close()  # what the engine's death does to the socket
            await until(lambda: process.poll() is not None)

    asyncio.run(scenario())


def test_a_dead_heartbeat_process_is_reported(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with pair(tmp_path) as (one, _):
            assert one.link.process is not None
            os.kill(one.link.process.pid, 9)
            await until(lambda: bool(one.failures))
            assert one.failures == ["the heartbeat process died"]

    asyncio.run(scenario())


def test_a_ring_that_cannot_open_fails_the_start(tmp_path: Path) -> None:
    """Node 1's ring address and port are taken: the start fails with the transport's
    one-line reason and no heartbeat process is left behind."""
    async def scenario() -> None:
        config = loopback_cell(_free_port())
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
            squatter.bind(("127.0.0.1", config.port))
            setup = NetSetup(config, "n1", KEY, 1, FailureDetector(1, [2], [0], 0.3),
                             threading.Lock(), asyncio.get_running_loop(),
                             lambda m, r, t, b: None, run_dir=tmp_path, realtime=False)
            link = HeartbeatLink(setup)
            with pytest.raises(TransportError):
                await link.start()
        assert link.process is not None and link.process.poll() is not None
        assert not (tmp_path / "heartbeat.page").exists()

    asyncio.run(scenario())


def test_a_refresh_makes_the_counters_current(tmp_path: Path) -> None:
    """The process publishes its counters once a second; a status asks for them fresh, so
    that two nodes' counters read one after the other line up (what one sent before the
    first read, the other cannot have received more of by the second)."""
    async def scenario() -> None:
        async with pair(tmp_path) as (one, two):
            await until(lambda: two.link.stats().get(0, {}).get("rx_ok", 0) > 0)
            await asyncio.sleep(0.3)  # a few beats since the last periodic publication
            stale = one.link.stats()[0]["tx_ok"]
            await one.link.refresh()
            assert one.link.stats()[0]["tx_ok"] > stale

    asyncio.run(scenario())


def test_a_new_life_is_not_read_with_the_old_lifes_claims(tmp_path: Path) -> None:
    """A peer we fenced reboots: its first heartbeat's time is on the page before its new
    claims (its life) reach the engine over the channel. A pull in between must not
    count that time for the old life: the ledger would take it for "heard again without
    a restart" and fence the rebooted node once more (seen once in 300 bench failovers)."""
    async def scenario() -> None:
        config = loopback_cell(_free_port())
        detector = FailureDetector(1, [2], [0], 0.3)
        lock = threading.Lock()
        link = HeartbeatLink(NetSetup(config, "n1", KEY, 1001, detector, lock,
                                      asyncio.get_running_loop(), recorder([]),
                                      run_dir=tmp_path, realtime=False))
        link.page = page = SharedPage(tmp_path / "page", [2], [0], create=True)
        old, new = 1_796_671_000_000_000_000, 1_796_671_937_797_522_167
        start = time.monotonic()
        link._message(("heard", 2, 0, start, [1, 2], old))  # the old life, long ago
        assert detector.evaluate(start).peers[2].incarnation == old
        # the rebooted peer: the heartbeat process writes its life, then its time ...
        page.life(2, new)
        page.heard(2, 0, start + 5.0)
        link.pull(detector, lock)  # ... and the engine pulls before the claims arrive
        assert detector.evaluate(start + 5.0).peers[2].incarnation == old
        assert not detector.evaluate(start + 5.0).peers[2].member  # not heard as old
        link._message(("heard", 2, 0, start + 5.0, [1, 2], new))  # the claims arrive
        peer = detector.evaluate(start + 5.0).peers[2]
        assert peer.member and peer.incarnation == new
        page.heard(2, 0, start + 5.1)  # later beats of the new life come by the page
        link.pull(detector, lock)
        assert detector.evaluate(start + 5.3).peers[2].member
        page.close()

    asyncio.run(scenario())
