"""The heartbeat path, on a thread and an event loop of its own.

Everything that keeps this node alive in its peers' eyes — sending heartbeats on time,
receiving theirs and recording when they were heard — runs here, at real-time priority
where the system allows, so that slow work on the engine's loop (hundreds of services to
place, a burst of state messages) can never delay a heartbeat or the moment a peer's
heartbeat is noticed. Other messages are handed to the engine's loop as they arrive.

Nothing on this thread reads or writes the engine's live state: after each cycle the
engine publishes an immutable `NetSnapshot` (one reference swap), and every heartbeat is
built from the snapshot of the moment. The only object shared with the engine is the
failure detector, under its lock.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tandem.config import ClusterConfig
from tandem.membership.detector import FailureDetector
from tandem.membership.heartbeat import HeartbeatPayload, HeartbeatSender, HeartbeatStats
from tandem.membership.rt import Outcome, set_fifo
from tandem.wire import Message, MsgType, Rings, WireError

log = logging.getLogger("tandemd.net")

Deliver = Callable[[Message, int, float, HeartbeatPayload | None], None]


@dataclass(frozen=True)
class NetSnapshot:
    """What the next heartbeats say: the peers we hear, and our claims (wire form)."""

    hears: frozenset[int] = frozenset()
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NetSetup:
    """Everything a network needs from the engine to start."""

    config: ClusterConfig
    local: str
    key: bytes
    incarnation: int
    detector: FailureDetector
    lock: threading.Lock
    main_loop: asyncio.AbstractEventLoop
    deliver: Deliver
    realtime: bool = True
START_TIMEOUT_S = 10.0
HANDED_REFRESH_S = 1.0


class NetThread:
    """Rings and heartbeats of the local node, driven from a dedicated thread.

    `detector` is shared with the engine and guarded by `lock`; `deliver` is called on
    the engine's loop (`main_loop`) for every verified message, with the parsed body of
    heartbeats."""

    def __init__(self, setup: NetSetup) -> None:
        self.config, self.local = setup.config, setup.local
        self.key, self.incarnation = setup.key, setup.incarnation
        self.detector, self.lock = setup.detector, setup.lock
        self.main_loop, self.deliver = setup.main_loop, setup.deliver
        self.realtime = setup.realtime
        self._snapshot = NetSnapshot()
        self.scheduling: Outcome | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.rings: Rings | None = None
        self.heartbeat: HeartbeatSender | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        # Last heartbeat handed to the engine per sender: (incarnation, body, when).
        self._handed: dict[int, tuple[int, bytes, float]] = {}
        self._thread = threading.Thread(target=self._main, name="tandemd-net", daemon=True)

    def start(self) -> None:
        """Open the rings and start heartbeating; the transport's error if it cannot."""
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise TimeoutError("the network thread did not start")
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        if self.realtime:
            self.scheduling = set_fifo()
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported through start(); never silently lost
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.rings = Rings.from_config(self.config, self.local, key=self.key,
                                       incarnation=self.incarnation,
                                       on_message=self._on_message)
        await self.rings.open()
        self.heartbeat = HeartbeatSender(
            self.rings, interval_s=self.config.timing.heartbeat_ms / 1000.0,
            config_version=self.config.config_version, snapshot=self._beat)
        self.heartbeat.start()
        self._ready.set()
        await self._stop.wait()
        await self.heartbeat.stop()
        await self.rings.aclose()

    def publish(self, snapshot: NetSnapshot) -> None:
        """The engine's latest snapshot (from its loop; a reference swap)."""
        self._snapshot = snapshot

    def _beat(self) -> tuple[Iterable[int], Mapping[str, Any]]:
        snapshot = self._snapshot  # one read: hears and claims of the same cycle
        return snapshot.hears, snapshot.extra

    def _on_message(self, msg: Message, ring: int, now: float) -> None:
        body = None
        if msg.msg_type == MsgType.HEARTBEAT:
            body = HeartbeatPayload.from_bytes(msg.payload)  # BadPayload: counted, dropped
            with self.lock:
                self.detector.heard(msg.sender, ring, now, body.hears,
                                    incarnation=msg.incarnation)
            if self._unchanged(msg, now):
                return  # timing is in the detector; the engine has this body already
        self.main_loop.call_soon_threadsafe(self.deliver, msg, ring, now, body)

    def _unchanged(self, msg: Message, now: float) -> bool:
        """A heartbeat whose body the engine got less than a second ago from the same
        life of the sender: waking the engine's loop for it (ten times a second per
        peer) would cost CPU and tell it nothing."""
        last = self._handed.get(msg.sender)
        if last is not None and last[0] == msg.incarnation and last[1] == msg.payload \
                and now - last[2] < HANDED_REFRESH_S:
            return True
        self._handed[msg.sender] = (msg.incarnation, msg.payload, now)
        return False

    def send(self, msg_type: MsgType, payload: bytes,
             dest_node_ids: Collection[int] | None = None) -> None:
        """Send on every ring, from any thread (the send happens on this loop)."""
        if self.loop is None or self.rings is None:
            return
        self.loop.call_soon_threadsafe(self._send, msg_type, payload, dest_node_ids)

    def _send(self, msg_type: MsgType, payload: bytes,
              dest_node_ids: Collection[int] | None) -> None:
        if self.rings is None:
            return
        try:
            self.rings.send(msg_type, payload, dest_node_ids)
        except (WireError, ValueError) as exc:
            log.warning("%s not sent: %s", msg_type.name, exc)

    def retime(self, interval_s: float, config_version: int) -> None:
        """A reloaded configuration: new heartbeat interval and version."""
        if self.heartbeat is not None:
            self.heartbeat.interval_s = interval_s
            self.heartbeat.config_version = config_version

    def stats(self) -> dict[int, dict[str, int]]:
        return self.rings.stats() if self.rings is not None else {}

    def heartbeat_stats(self) -> HeartbeatStats | None:
        return self.heartbeat.stats() if self.heartbeat is not None else None

    def stop(self) -> None:
        """Stop heartbeating and close the rings (waits for the thread)."""
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=5)
