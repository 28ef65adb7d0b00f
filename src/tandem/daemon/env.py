"""The engine's environment: everything external it talks to, passed in explicitly so
that a test can drive whole cycles with a fake clock, a recording network, stand-in BMCs
and disks, while the engine's own code runs unchanged."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from tandem.daemon.clock import Clock, RealClock
from tandem.daemon.diskquorum import DiskFactory, real_disk
from tandem.daemon.netthread import NetSetup, NetSnapshot, NetThread
from tandem.daemon.services.executor import AgentFactory, build_agents
from tandem.fencing.base import FenceDevice
from tandem.membership.heartbeat import HeartbeatStats
from tandem.membership.rt import Outcome
from tandem.wire import MsgType


class Network(Protocol):
    """The rings as the engine uses them (NetThread, or a test's recording network)."""

    scheduling: Outcome | None

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def send(self, msg_type: MsgType, payload: bytes,
             dest_node_ids: Collection[int] | None = None) -> None: ...
    def publish(self, snapshot: NetSnapshot) -> None: ...
    def retime(self, interval_s: float, config_version: int) -> None: ...
    def stats(self) -> dict[int, dict[str, int]]: ...
    def heartbeat_stats(self) -> HeartbeatStats | None: ...


def _thread(setup: NetSetup) -> Network:
    return NetThread(setup)


def _key(path: str) -> bytes:
    from tandem.wire import load_key

    return load_key(path)


@dataclass(frozen=True)
class EngineEnv:
    """Defaults are the real things."""

    clock: Clock = field(default_factory=RealClock)
    network: Callable[[NetSetup], Network] = _thread
    disk: DiskFactory = real_disk
    agents: AgentFactory = build_agents
    fence_devices: Mapping[str, FenceDevice] | None = None  # by name, over the config's
    device_checks: bool = True  # check the fence devices periodically
    load_key: Callable[[str], bytes] = _key
