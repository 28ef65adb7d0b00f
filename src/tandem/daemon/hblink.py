"""The engine's side of its heartbeat process (hbproc): starts it, talks to it over the
channel, and reads what it heard from the shared page when the engine decides.

It is the engine's `Network`: `send` and `publish` go to the process, messages and
membership news come back on the engine's loop through `deliver`, and `pull` brings the
failure detector up to date with the page's time stamps at the start of every cycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Collection, Mapping
from typing import Any

from tandem.daemon.hbchannel import Channel
from tandem.daemon.hbproc import HeartbeatSetup
from tandem.daemon.hbshm import SharedPage, SharedPageError
from tandem.daemon.network import NetSetup, NetSnapshot
from tandem.membership.detector import FailureDetector
from tandem.membership.heartbeat import HeartbeatPayload, HeartbeatStats
from tandem.membership.rt import Outcome
from tandem.wire import BadPayload, Message, MsgType, TransportError

log = logging.getLogger("tandemd.hblink")

READY_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0
REFRESH_TIMEOUT_S = 0.5
PAGE_NAME = "heartbeat.page"


def engine_timeout_s(token_s: float) -> float:
    """How long the engine may go without a cycle before its heartbeats stop: long
    enough that a node busy to saturation is not shot for it (cycles run at least every
    half second on a healthy loop), short enough that a hung engine is found."""
    return max(5.0, 5 * token_s)


class HeartbeatLink:
    """The heartbeat process of this daemon, as the engine's network."""

    def __init__(self, setup: NetSetup) -> None:
        self.setup = setup
        self.page_path = setup.run_dir / PAGE_NAME
        config = setup.config
        local = config.node(setup.local).id
        self.peers = tuple(n.id for n in config.nodes if n.id != local)
        self.rings = tuple(r.ring for r in config.rings if r.ring is not None)
        self.engine_timeout_s = engine_timeout_s(config.timing.token_ms / 1000.0)
        self.scheduling: Outcome | None = None
        self.page: SharedPage | None = None
        self.channel: Channel | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._ready: asyncio.Future[str] | None = None
        self._claims: dict[int, tuple[int, tuple[int, ...]]] = {}  # life, hears
        self._pulled: dict[tuple[int, int], float] = {}
        self._extra: Mapping[str, Any] | None = None
        self._stopping = False
        self._refreshed: asyncio.Future[None] | None = None

    # -- life ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the process and wait until its rings are open (TransportError if not)."""
        self.page_path.parent.mkdir(parents=True, exist_ok=True)
        self.page = SharedPage(self.page_path, self.peers, self.rings, create=True)
        self.page.feed(0.0)
        ours, theirs = socket.socketpair()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tandem.daemon.hbproc", str(theirs.fileno())],
            pass_fds=[theirs.fileno()], close_fds=True)
        theirs.close()
        self._ready = asyncio.get_running_loop().create_future()
        self.channel = Channel(ours, self._message, self._closed)
        config = self.setup.config
        self.feed(time.monotonic())
        self.channel.send("setup", HeartbeatSetup(
            config=config, local=self.setup.local, key=self.setup.key,
            incarnation=self.setup.incarnation, page=self.page_path, peers=self.peers,
            rings=self.rings, engine_timeout_s=self.engine_timeout_s,
            realtime=self.setup.realtime, log_file=self.setup.log_file,
            syslog=self.setup.syslog))
        try:
            detail = await asyncio.wait_for(self._ready, READY_TIMEOUT_S)
        except TimeoutError:
            await self.stop()
            raise TransportError("the heartbeat process did not start") from None
        except TransportError:
            await self.stop()
            raise
        self.scheduling = Outcome(True, detail)

    async def stop(self) -> None:
        """Stop the process (it stops beating at once) and remove the page."""
        self._stopping = True
        if self.channel is not None and not self.channel.closed:
            self.channel.send("stop")
            await asyncio.sleep(0)  # let the stop go out
        if self.process is not None:
            try:
                await asyncio.to_thread(self.process.wait, STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                await asyncio.to_thread(self.process.wait)
        if self.channel is not None:
            self.channel.close()
        if self.page is not None:
            self.page.close()
        with contextlib.suppress(FileNotFoundError):
            self.page_path.unlink()

    def _closed(self) -> None:
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(TransportError("the heartbeat process exited"))
            return
        if not self._stopping:
            log.critical("the heartbeat process died: this node no longer heartbeats")
            self.setup.on_failure("the heartbeat process died")

    # -- from the process --------------------------------------------------------------------
    def _message(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "ready" and self._ready is not None and not self._ready.done():
            self._ready.set_result(str(message[1]))
        elif kind == "error" and self._ready is not None and not self._ready.done():
            self._ready.set_exception(TransportError(str(message[1])))
        elif kind == "heard":
            _, peer, ring, at, hears, life = message
            self._claims[peer] = (life, tuple(hears))
            with self.setup.lock:
                self.setup.detector.heard(peer, ring, at, frozenset(hears), incarnation=life)
            self._pulled[(peer, ring)] = at
        elif kind == "msg":
            self._deliver(message[1:])
        elif kind == "stats" and self._refreshed is not None and not self._refreshed.done():
            self._refreshed.set_result(None)

    def _deliver(self, fields: tuple[Any, ...]) -> None:
        """(type, sender, ring, incarnation, seq, payload, when heard) -> the engine."""
        msg_type, sender, ring, incarnation, seq, payload, at = fields
        msg = Message(MsgType(msg_type), b"", sender, ring, incarnation, seq, payload)
        body = None
        if msg.msg_type == MsgType.HEARTBEAT:
            try:
                body = HeartbeatPayload.from_bytes(payload)
            except BadPayload:
                return
        self.setup.deliver(msg, ring, at, body)

    # -- the engine's network -------------------------------------------------------------------
    def send(self, msg_type: MsgType, payload: bytes,
             dest_node_ids: Collection[int] | None = None) -> None:
        if self.channel is not None:
            dest = sorted(dest_node_ids) if dest_node_ids is not None else None
            self.channel.send("send", int(msg_type), payload, dest)

    def publish(self, snapshot: NetSnapshot) -> None:
        """The claims of the next heartbeats (sent only when they changed)."""
        if self.channel is not None and snapshot.extra != self._extra:
            self._extra = dict(snapshot.extra)
            self.channel.send("claims", self._extra)

    def retime(self, interval_s: float, config_version: int, token_s: float) -> None:
        if self.channel is not None:
            self.channel.send("retime", interval_s, config_version, token_s)

    def feed(self, now: float) -> None:
        """The engine ran a cycle: keep the heartbeats going."""
        if self.page is not None:
            self.page.feed(now)

    def pull(self, detector: FailureDetector, lock: threading.Lock) -> None:
        """Bring `detector` up to date with the page: every ring a peer was heard on
        since the last pull, with the peer's latest claims."""
        if self.page is None:
            return
        try:
            heard = self.page.last_heard()
            lives = self.page.lives()  # after the times: a life is written before them
        except SharedPageError as exc:
            log.error("%s", exc)
            return
        with lock:
            for (peer, ring), at in heard.items():
                claims = self._claims.get(peer)
                if claims is None or at <= self._pulled.get((peer, ring), 0.0):
                    continue
                if float(claims[0]) != lives[peer]:
                    continue  # a new life, whose claims are still on the channel
                self._pulled[(peer, ring)] = at
                detector.heard(peer, ring, at, frozenset(claims[1]), incarnation=claims[0])

    async def refresh(self) -> None:
        """Have the process write its counters now (they are otherwise a second old at
        most), so that a status shows them as of the moment it was asked for."""
        if self.channel is None or self.channel.closed:
            return
        if self._refreshed is None or self._refreshed.done():
            self._refreshed = asyncio.get_running_loop().create_future()
            self.channel.send("stats")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._refreshed), REFRESH_TIMEOUT_S)

    def stats(self) -> dict[int, dict[str, int]]:
        found = self.page.stats() if self.page is not None else {}
        rings = found.get("rings", {})
        return {int(r): dict(c) for r, c in rings.items()} if isinstance(rings, dict) else {}

    def heartbeat_stats(self) -> HeartbeatStats | None:
        found = self.page.stats() if self.page is not None else {}
        beats = found.get("heartbeat")
        if not isinstance(beats, dict):
            return None
        return HeartbeatStats(sent=int(beats.get("sent", 0)), errors=int(beats.get("errors", 0)),
                              skipped=int(beats.get("skipped", 0)) + int(beats.get("held", 0)),
                              max_lag_s=float(beats.get("max_lag_s", 0.0)),
                              mean_lag_s=float(beats.get("mean_lag_s", 0.0)),
                              p99_lag_s=float(beats.get("p99_lag_s", 0.0)))
