"""Fence device type `manual`: an operator confirms that a node is off.

The last resort when every power control is unreachable (a BMC that died with its
node). An acknowledgement counts only while a fence of that node is waiting for one:
an early or stray `tandem fence ack` is refused, so an old confirmation can never
stand in for a new fence.
"""

from __future__ import annotations

import asyncio

from tandem.config.model import FenceDeviceDef
from tandem.fencing.base import FenceAgentError, FenceDevice, FenceTarget, FenceTimeout, PowerState


class ManualAcks:
    """Pending operator confirmations, shared by the runner and the control socket.

    Use from the event loop's thread only.
    """

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[None]] = {}
        self._waiters: dict[str, int] = {}
        self._confirmed: set[str] = set()

    def pending(self) -> tuple[str, ...]:
        """Nodes whose fencing waits for an operator right now."""
        return tuple(sorted(n for n, f in self._waiting.items() if not f.done()))

    def ack(self, node: str) -> bool:
        """Record that an operator checked `node` is off; False if nobody was waiting."""
        future = self._waiting.get(node)
        if future is None or future.done():
            return False
        future.set_result(None)
        return True

    def confirmed(self, node: str) -> bool:
        """Whether the last wait for `node` ended with an acknowledgement."""
        return node in self._confirmed

    async def wait(self, node: str, timeout: float) -> bool:
        """Wait up to `timeout` s for `ack(node)`; True when it came."""
        self._confirmed.discard(node)
        future = self._waiting.get(node)
        if future is None or future.done():
            future = asyncio.get_running_loop().create_future()
            self._waiting[node] = future
        self._waiters[node] = self._waiters.get(node, 0) + 1
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            if not future.done():
                return False
            # else an ack landed as the wait expired; the operator was told it counted
        finally:
            self._waiters[node] -= 1
            if self._waiters[node] == 0:
                del self._waiters[node]
                if self._waiting.get(node) is future:
                    del self._waiting[node]
        self._confirmed.add(node)
        return True


class ManualDevice(FenceDevice):
    """"Power off" means: ask an operator and wait up to the device's `timeout_s`."""

    def __init__(self, definition: FenceDeviceDef, acks: ManualAcks) -> None:
        super().__init__(definition)
        self.acks = acks

    async def off(self, target: FenceTarget) -> None:
        timeout = self.definition.timeout_s
        if not await self.acks.wait(target.node, timeout):
            raise FenceTimeout(f"{self.name}: no operator confirmed that {target.node} is off "
                               f"within {timeout:g} s (run: tandem fence ack {target.node})")

    async def status(self, target: FenceTarget) -> PowerState:
        return PowerState.OFF if self.acks.confirmed(target.node) else PowerState.UNKNOWN

    async def on(self, target: FenceTarget) -> None:
        raise FenceAgentError(f"{self.name}: a manual device cannot power {target.node} on")
