"""Periodic checks that the fence devices this node would use still answer.

A BMC that stopped answering is found now, in `tandem status`, rather than at the
moment a node must be fenced. Checks only read the power status; they never act.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from tandem.common.events import EventKind
from tandem.common.status import FenceDeviceStatus
from tandem.config import ClusterConfig
from tandem.daemon.events import EventLog
from tandem.fencing.base import FenceError, resolve_target
from tandem.fencing.devices import make_device
from tandem.fencing.ipmishell import IpmiSessions
from tandem.fencing.manual import ManualAcks

log = logging.getLogger("tandemd.fencecheck")

# Soon after start: the first check also opens the IPMI sessions kept to the BMCs, so
# that a fence right after a (re)boot does not pay for setting one up (~40 ms).
FIRST_CHECK_S = 0.2
CHECK_PERIOD_S = 60.0


@dataclass
class DeviceHealth:
    """The last check of one fence device for one node."""

    node: str
    level: int
    device: str
    ok: bool | None = None
    detail: str = "not checked yet"
    checked_at: float = 0.0

    def to_status(self) -> FenceDeviceStatus:
        return FenceDeviceStatus(
            node=self.node, level=self.level, device=self.device,
            state="unknown" if self.ok is None else ("ok" if self.ok else "failed"),
            detail=self.detail, checked_at=round(self.checked_at, 3))


class FenceDeviceChecker:
    """Checks every non-manual fence device of every other node, forever."""

    def __init__(self, config: ClusterConfig, local: str, events: EventLog,
                 period_s: float = CHECK_PERIOD_S,
                 sessions: IpmiSessions | None = None) -> None:
        self.config = config
        self.sessions = sessions
        self.local = local
        self.events = events
        self.period_s = period_s
        self.health: dict[tuple[str, int, str], DeviceHealth] = {}

    def reconfigure(self, config: ClusterConfig) -> None:
        self.config = config

    def entries(self) -> list[tuple[str, int, str]]:
        found = []
        for node in self.config.nodes:
            if node.name == self.local:
                continue
            for level, spec in enumerate(node.fence, start=1):
                for name in spec.devices:
                    if self.config.fence_device(name).type != "manual":
                        found.append((node.name, level, name))
        return found

    async def run(self) -> None:
        await asyncio.sleep(FIRST_CHECK_S)
        while True:
            await asyncio.gather(*(self.check(*entry) for entry in self.entries()))
            await asyncio.sleep(self.period_s)

    async def check(self, node_name: str, level: int, device_name: str) -> DeviceHealth:
        key = (node_name, level, device_name)
        health = self.health.setdefault(key, DeviceHealth(node_name, level, device_name))
        definition = self.config.fence_device(device_name)
        try:
            device = make_device(definition, ManualAcks(), self.sessions)
            target = resolve_target(self.config.node(node_name), definition)
            state = await asyncio.wait_for(device.status(target),
                                           definition.timeout_s + 1.0)
            ok, detail = True, f"answers (power {state.value})"
        except (FenceError, TimeoutError) as exc:
            ok, detail = False, str(exc) or "no answer"
        if ok != health.ok:
            kind = EventKind.FENCE_DEVICE_OK if ok else EventKind.FENCE_DEVICE_FAILED
            if health.ok is not None or not ok:
                self.events.add(kind, node=node_name,
                                detail=f"level {level} device {device_name}: {detail}")
        health.ok, health.detail, health.checked_at = ok, detail, time.time()
        return health

    def status(self) -> list[FenceDeviceStatus]:
        return [h.to_status() for h in self.health.values()]
