"""The heartbeat process: a small process of its own, locked in memory at real-time
priority, that sends this node's heartbeats on every ring and receives everything the
rings carry.

Why a process: in the daemon's own process, a real-time thread still needs the
interpreter lock, which the engine holds while it decides; on a saturated node that made
heartbeats tens to hundreds of milliseconds late. Here nothing waits for the engine:
- what it hears is time-stamped at once in the shared page (hbshm), which the engine
  reads when it decides; membership news (a peer's changed claims, a new life) and
  every other message go to the engine over the channel (hbchannel);
- the claims each heartbeat carries are the engine's latest, sent after each cycle;
- the engine feeds the shared page at every cycle: if the feed is older than the engine
  timeout, this process stops beating, so a hung engine is a failed node for the peers
  (who fence it), never one hidden behind heartbeats that go on;
- if the engine dies (the channel closes, or the daemon is no longer its parent), this
  process exits at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tandem.config import ClusterConfig
from tandem.daemon.hbchannel import Channel
from tandem.daemon.hbshm import SharedPage
from tandem.daemon.logsetup import SyslogTarget, setup_logging
from tandem.membership.heartbeat import HeartbeatPayload, HeartbeatSender
from tandem.membership.rt import keep_buffers_in_heap, lock_memory, set_fifo
from tandem.wire import BadPayload, Message, MsgType, Rings, WireError

log = logging.getLogger("tandemd.heartbeat")

STATS_PERIOD_S = 1.0


@dataclass(frozen=True)
class HeartbeatSetup:
    """What the engine gives its heartbeat process (over the channel: the key never
    appears on a command line)."""

    config: ClusterConfig
    local: str
    key: bytes
    incarnation: int
    page: Path
    peers: tuple[int, ...]
    rings: tuple[int, ...]
    engine_timeout_s: float
    realtime: bool
    log_file: str | None = None
    syslog: SyslogTarget | None = None


class _Gate:
    """The rings as the heartbeat sender sees them: nothing goes out while the engine's
    feed is too old (a hung engine must look like a failed node)."""

    def __init__(self, rings: Rings, page: SharedPage, timeout_s: float) -> None:
        self.rings, self.page, self.timeout_s = rings, page, timeout_s
        self.held = 0  # heartbeats not sent because the engine was not feeding
        self._holding = False

    def send(self, msg_type: MsgType, payload: bytes,
             dest_node_ids: Collection[int] | None = None) -> int:
        stale = time.monotonic() - self.page.fed_at() > self.timeout_s
        if stale != self._holding:
            self._holding = stale
            if stale:
                log.error("the engine has not run for %.1f s: heartbeats stop (the peers "
                          "will fence this node)", self.timeout_s)
            else:
                log.warning("the engine runs again: heartbeats resume")
        if stale:
            self.held += 1
            return 0
        return self.rings.send(msg_type, payload, dest_node_ids)


class HeartbeatProcess:
    """The process's work, on its own event loop."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.setup: HeartbeatSetup | None = None
        self.extra: Mapping[str, Any] = {}
        self.token_s = 1.0
        self.heard: dict[int, float] = {}  # peer -> when last heard on any ring
        self.claims: dict[int, tuple[int, frozenset[int]]] = {}  # peer -> (life, hears)
        self.handed: dict[int, tuple[int, bytes]] = {}  # last body handed over
        self._dropped = 0  # the channel's drops as of the last hand-over
        self._parent = os.getppid()
        self._stats_at = 0.0
        self.parsed: dict[int, tuple[bytes, HeartbeatPayload]] = {}  # last body parsed
        self.rings: Rings | None = None
        self.sender: HeartbeatSender | None = None
        self.page: SharedPage | None = None
        self.gate: _Gate | None = None
        self.done = asyncio.Event()
        self.channel: Channel | None = None
        self._setup_given = asyncio.Event()

    async def serve(self) -> None:
        self.channel = Channel(self.sock, self._command, self.done.set)
        await self._setup_given.wait()
        if self.setup is None:
            return
        setup_logging(self.setup.log_file, "tandemd-hb", self.setup.syslog)
        try:
            await self._open(self.setup)
        except (WireError, OSError) as exc:
            self.channel.send("error", str(exc))
            await asyncio.sleep(0.1)  # let the error reach the engine
            return
        await self.done.wait()
        await self._close()

    async def _open(self, setup: HeartbeatSetup) -> None:
        assert self.channel is not None
        heap = keep_buffers_in_heap()  # before the rings' first datagram
        if not heap.ok:
            log.warning("%s: each datagram received costs a new mapping", heap.detail)
        self.token_s = setup.config.timing.token_ms / 1000.0
        self.page = SharedPage(setup.page, setup.peers, setup.rings, create=False)
        self.rings = Rings.from_config(setup.config, setup.local, key=setup.key,
                                       incarnation=setup.incarnation,
                                       on_message=self._received)
        await self.rings.open()
        self.gate = _Gate(self.rings, self.page, setup.engine_timeout_s)
        self.sender = HeartbeatSender(
            self.gate, interval_s=setup.config.timing.heartbeat_ms / 1000.0,
            config_version=setup.config.config_version, snapshot=self._beat,
            on_beat=self._after_beat)
        scheduling = "not requested"
        if setup.realtime:
            # Last, once the costly start is done: a process at real-time priority that
            # computes holds off every other one at that priority on its CPU (in the
            # lab, the heartbeat processes of every node share two CPUs).
            memory = lock_memory()
            scheduling = f"{set_fifo().detail}; {memory.detail}"
        self.sender.start()
        self._publish_stats()
        self.channel.send("ready", scheduling)

    async def _close(self) -> None:
        if self.sender is not None:
            await self.sender.stop()
        if self.rings is not None:
            await self.rings.aclose()
        if self.page is not None:
            self.page.close()

    # -- from the engine ---------------------------------------------------------------
    def _command(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "setup":
            self.setup = message[1]
            self._setup_given.set()
        elif kind == "claims":
            self.extra = message[1]
        elif kind == "send" and self.rings is not None:
            try:
                self.rings.send(MsgType(message[1]), message[2], message[3])
            except (WireError, ValueError) as exc:
                log.warning("%s not sent: %s", MsgType(message[1]).name, exc)
        elif kind == "retime" and self.sender is not None:
            self.sender.interval_s, self.sender.config_version = message[1], message[2]
            self.token_s = message[3]
        elif kind == "stats":
            self._publish_stats()
            if self.channel is not None:
                self.channel.send("stats")
        elif kind == "stop":
            self.done.set()

    # -- heartbeats ----------------------------------------------------------------------
    def _beat(self) -> tuple[Iterable[int], Mapping[str, Any]]:
        now = time.monotonic()
        hears = [p for p, at in self.heard.items() if now - at <= self.token_s]
        return hears, self.extra

    def _received(self, msg: Message, ring: int, now: float) -> None:
        assert self.channel is not None and self.page is not None
        if msg.msg_type != MsgType.HEARTBEAT:
            self.channel.send("msg", int(msg.msg_type), msg.sender, ring, msg.incarnation,
                              msg.seq, msg.payload, now)
            return
        body = self._body(msg)  # BadPayload: counted, dropped
        if self.channel.dropped != self._dropped:  # hand everything over again
            self._dropped = self.channel.dropped
            self.claims.clear()
            self.handed.clear()
        claims = (msg.incarnation, body.hears)
        if self.claims.get(msg.sender) != claims:
            self.claims[msg.sender] = claims
            self.page.life(msg.sender, msg.incarnation)  # before the time (see hbshm)
            self.channel.send("heard", msg.sender, ring, now, sorted(body.hears),
                              msg.incarnation)
        self.page.heard(msg.sender, ring, now)
        self.heard[msg.sender] = now
        if self.handed.get(msg.sender) != (msg.incarnation, msg.payload):
            self.handed[msg.sender] = (msg.incarnation, msg.payload)
            self.channel.send("msg", int(msg.msg_type), msg.sender, ring, msg.incarnation,
                              msg.seq, msg.payload, now)

    def _body(self, msg: Message) -> HeartbeatPayload:
        """The parsed body; a peer's beats mostly repeat the last one: parse once."""
        last = self.parsed.get(msg.sender)
        if last is not None and last[0] == msg.payload:
            return last[1]
        body = HeartbeatPayload.from_bytes(msg.payload)
        self.parsed[msg.sender] = (msg.payload, body)
        return body

    def _after_beat(self, now: float) -> None:
        """On each beat's wake-up (none of their own): stop if the daemon that started
        us is gone, and publish the counters every STATS_PERIOD_S."""
        if os.getppid() != self._parent:
            if not self.done.is_set():
                log.error("the engine is gone: the heartbeat process stops")
                self.done.set()
            return
        if now - self._stats_at >= STATS_PERIOD_S:
            self._publish_stats()

    def _publish_stats(self) -> None:
        if self.page is None or self.rings is None or self.sender is None:
            return
        self._stats_at = time.monotonic()
        beats = self.sender.stats()
        self.page.put_stats({
            "rings": {str(r): c for r, c in self.rings.stats().items()},
            "heartbeat": {"sent": beats.sent, "errors": beats.errors,
                          "skipped": beats.skipped, "max_lag_s": beats.max_lag_s,
                          "mean_lag_s": beats.mean_lag_s, "p99_lag_s": beats.p99_lag_s,
                          "held": self.gate.held if self.gate else 0,
                          "channel_dropped": self.channel.dropped if self.channel else 0}})


def main(argv: list[str] | None = None) -> int:
    """`python -m tandem.daemon.hbproc FD`: FD is this end of the engine's socket pair."""
    args = sys.argv[1:] if argv is None else argv
    sock = socket.socket(fileno=int(args[0]))
    try:
        asyncio.run(HeartbeatProcess(sock).serve())
    except (BadPayload, KeyboardInterrupt):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
