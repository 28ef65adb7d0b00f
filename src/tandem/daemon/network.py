"""The engine's view of its rings: what it gives the network when it starts, what it
publishes after each cycle, and the operations it needs (the heartbeat process through
hblink in the daemon; a recording network in tests)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tandem.config import ClusterConfig
from tandem.daemon.logsetup import SyslogTarget
from tandem.membership.detector import FailureDetector
from tandem.membership.heartbeat import HeartbeatPayload, HeartbeatStats
from tandem.membership.rt import Outcome
from tandem.wire import Message, MsgType

Deliver = Callable[[Message, int, float, HeartbeatPayload | None], None]


@dataclass(frozen=True)
class NetSnapshot:
    """What the next heartbeats claim (wire form), published after each cycle."""

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
    deliver: Deliver  # every verified message, on the engine's loop
    run_dir: Path = Path("/run/tandem")
    log_file: str | None = None
    syslog: SyslogTarget | None = None  # also in syslog, from the heartbeat process too
    on_failure: Callable[[str], None] = lambda why: None  # the rings are gone for good
    realtime: bool = True


class Network(Protocol):
    """The rings as the engine uses them."""

    scheduling: Outcome | None

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def send(self, msg_type: MsgType, payload: bytes,
             dest_node_ids: Collection[int] | None = None) -> None: ...
    def publish(self, snapshot: NetSnapshot) -> None: ...
    def retime(self, interval_s: float, config_version: int, token_s: float) -> None: ...
    def feed(self, now: float) -> None: ...
    def pull(self, detector: FailureDetector, lock: threading.Lock) -> None: ...
    async def refresh(self) -> None: ...  # make stats() and heartbeat_stats() current
    def stats(self) -> dict[int, dict[str, int]]: ...
    def heartbeat_stats(self) -> HeartbeatStats | None: ...
