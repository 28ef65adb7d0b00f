"""Manual fencing: an operator's acknowledgement counts only while a fence waits for it."""

from __future__ import annotations

import asyncio

import pytest

from tandem.config.model import FenceDeviceDef
from tandem.fencing import FenceAgentError, FenceTarget, FenceTimeout, ManualAcks, ManualDevice
from tandem.fencing.base import PowerState


async def wait_pending(acks: ManualAcks, node: str) -> None:
    for _ in range(500):
        if node in acks.pending():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"nobody waits for {node}")


def test_ack_without_a_waiting_fence_is_refused() -> None:
    acks = ManualAcks()
    assert not acks.ack("node1")
    assert acks.pending() == ()

    async def go() -> bool:
        return await acks.wait("node1", 0.05)

    assert not asyncio.run(go())  # the early ack was not kept for later


def test_ack_releases_the_waiter_and_confirms() -> None:
    acks = ManualAcks()

    async def go() -> bool:
        waiter = asyncio.create_task(acks.wait("node1", 30))
        await wait_pending(acks, "node1")
        assert not acks.ack("node2")
        assert acks.ack("node1")
        return await waiter

    assert asyncio.run(go())
    assert acks.confirmed("node1") and acks.pending() == ()
    assert not acks.ack("node1")  # consumed


def test_two_waiters_for_one_node_share_the_ack() -> None:
    acks = ManualAcks()

    async def go() -> list[bool]:
        tasks = [asyncio.create_task(acks.wait("node1", 30)) for _ in range(2)]
        await wait_pending(acks, "node1")
        await asyncio.sleep(0.01)
        assert acks.ack("node1")
        return list(await asyncio.gather(*tasks))

    assert asyncio.run(go()) == [True, True]


def test_device_times_out_with_the_command_to_run() -> None:
    device = ManualDevice(FenceDeviceDef(name="operator", type="manual", timeout_s=0.05),
                          ManualAcks())
    target = FenceTarget(node="node2")

    async def go() -> None:
        with pytest.raises(FenceTimeout, match="tandem fence ack node2"):
            await device.off(target)
        assert await device.status(target) is PowerState.UNKNOWN
        with pytest.raises(FenceAgentError):
            await device.on(target)

    asyncio.run(go())
