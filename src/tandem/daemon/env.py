"""The engine's environment: everything external it talks to, passed in explicitly so
that a test can drive whole cycles with a fake clock, a recording network, stand-in BMCs
and disks, while the engine's own code runs unchanged."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from tandem.daemon.clock import Clock, RealClock
from tandem.daemon.diskquorum import DiskFactory, real_disk
from tandem.daemon.network import NetSetup, Network
from tandem.daemon.services.executor import AgentFactory, build_agents
from tandem.fencing.base import FenceDevice


def _heartbeat_process(setup: NetSetup) -> Network:
    from tandem.daemon.hblink import HeartbeatLink

    return HeartbeatLink(setup)


def _key(path: str) -> bytes:
    from tandem.wire import load_key

    return load_key(path)


@dataclass(frozen=True)
class EngineEnv:
    """Defaults are the real things."""

    clock: Clock = field(default_factory=RealClock)
    network: Callable[[NetSetup], Network] = _heartbeat_process
    disk: DiskFactory = real_disk
    agents: AgentFactory = build_agents
    fence_devices: Mapping[str, FenceDevice] | None = None  # by name, over the config's
    device_checks: bool = True  # check the fence devices periodically
    kernel_log: str | None = "/dev/kmsg"  # where back-end I/O errors are read (None: off)
    load_key: Callable[[str], bytes] = _key
