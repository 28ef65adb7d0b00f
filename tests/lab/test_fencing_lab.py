"""Fencing for real: the ipmi device (ipmitool) and the external device (Debian's
fence_ipmilan) against virtual BMCs, from a namespace of the test's own; level
fallback when a BMC is dead, refuses us, or when only an operator can confirm."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from bmckit import PASSWORD, USER, BmcHandle, BmcLab
from tandem.config.model import BmcDef, ClusterConfig, FenceDeviceDef, FenceLevel, NodeDef
from tandem.fencing import (
    ExternalDevice,
    FenceAgentError,
    FenceAuthError,
    FenceDevice,
    FenceError,
    FenceHistory,
    FenceTimeout,
    FenceUnreachable,
    IpmiDevice,
    ManualAcks,
    PowerState,
    fence_node,
    resolve_target,
)

pytestmark = pytest.mark.lab

T = TypeVar("T")
NOBODY = "198.51.100.199"  # on the BMC network, but no host answers there
IPMILAN_OPTIONS = (("power_wait", "0"), ("ipmitool_timeout", "1"), ("power_timeout", "5"))


def node(bmc_address: str, levels: tuple[FenceLevel, ...] = (),
         password: str = PASSWORD) -> NodeDef:
    return NodeDef(name="node1", id=1, fence=levels,
                   bmc=BmcDef(address=bmc_address, user=USER, password=password))


def ipmi(name: str = "bmc", *, timeout_s: float = 10.0, **fields: Any) -> FenceDeviceDef:
    return FenceDeviceDef(name=name, type="ipmi", timeout_s=timeout_s, **fields)


def ipmilan(name: str = "agent", *, timeout_s: float = 20.0, **fields: Any) -> FenceDeviceDef:
    return FenceDeviceDef(name=name, type="external", agent="fence_ipmilan",
                          options=IPMILAN_OPTIONS, timeout_s=timeout_s, **fields)


def in_client(bmc_lab: BmcLab, coro: Coroutine[Any, Any, T]) -> T:
    return bmc_lab.in_client(lambda: asyncio.run(coro))


def off_then_status(bmc_lab: BmcLab, device: FenceDevice, target_node: NodeDef
                    ) -> tuple[PowerState, PowerState]:
    target = resolve_target(target_node, device.definition)

    async def go() -> tuple[PowerState, PowerState]:
        before = await device.status(target)
        await device.off(target)
        return before, await device.status(target)

    return in_client(bmc_lab, go())


def failure(bmc_lab: BmcLab, device: FenceDevice, target_node: NodeDef) -> tuple[FenceError, float]:
    target = resolve_target(target_node, device.definition)

    async def go() -> tuple[FenceError, float]:
        start = time.monotonic()
        try:
            await device.off(target)
        except FenceError as exc:
            return exc, time.monotonic() - start
        raise AssertionError("the fence action succeeded")

    return in_client(bmc_lab, go())


@pytest.mark.parametrize("make", [lambda: IpmiDevice(ipmi()),
                                  lambda: ExternalDevice(ipmilan())], ids=["ipmi", "external"])
def test_off_then_status_reads_off(bmc_lab: BmcLab, bmc: BmcHandle, make: Any) -> None:
    device = make()
    assert off_then_status(bmc_lab, device, node(bmc.address)) == (PowerState.ON, PowerState.OFF)
    assert bmc.power() == "off"
    target = resolve_target(node(bmc.address), device.definition)
    in_client(bmc_lab, device.on(target))
    assert bmc.power() == "on"


def test_ipmi_wrong_password_is_an_auth_error(bmc_lab: BmcLab, bmc: BmcHandle) -> None:
    error, elapsed = failure(bmc_lab, IpmiDevice(ipmi(timeout_s=10)),
                             node(bmc.address, password="guess"))
    assert isinstance(error, FenceAuthError), error
    assert "refused user 'admin'" in str(error) and elapsed < 10
    assert bmc.power() == "on"


def test_ipmi_unreachable_bmc_is_reported_within_the_timeout(bmc_lab: BmcLab) -> None:
    error, elapsed = failure(bmc_lab, IpmiDevice(ipmi(timeout_s=5)), node(NOBODY))
    assert isinstance(error, FenceUnreachable), error
    assert NOBODY in str(error) and elapsed < 5


def test_external_wrong_password_fails_cleanly(bmc_lab: BmcLab, bmc: BmcHandle) -> None:
    error, elapsed = failure(bmc_lab, ExternalDevice(ipmilan(timeout_s=20)),
                             node(bmc.address, password="guess"))
    assert isinstance(error, FenceAgentError), error
    assert "fence_ipmilan off of node1 (exit 1)" in str(error) and "\n" not in str(error)
    assert elapsed < 20 and bmc.power() == "on"


def test_external_unreachable_bmc_fails_cleanly(bmc_lab: BmcLab) -> None:
    error, elapsed = failure(bmc_lab, ExternalDevice(ipmilan(timeout_s=20)), node(NOBODY))
    assert isinstance(error, FenceUnreachable), error
    assert elapsed < 20


def test_external_agent_slower_than_the_device_timeout_is_killed(bmc_lab: BmcLab) -> None:
    slow = FenceDeviceDef(name="agent", type="external", agent="fence_ipmilan", timeout_s=1.5)
    error, elapsed = failure(bmc_lab, ExternalDevice(slow), node(NOBODY))
    assert isinstance(error, FenceTimeout), error
    assert elapsed < 1.5 + 10


def fence(bmc_lab: BmcLab, target_node: NodeDef, devices: tuple[FenceDeviceDef, ...],
          history: FenceHistory, acks: ManualAcks | None = None, **kwargs: Any) -> Any:
    config = ClusterConfig(name="c", key_file="k", nodes=(target_node,), fence_devices=devices)
    return in_client(bmc_lab, fence_node(target_node, config, history, acks or ManualAcks(),
                                     retry_pause_s=0.1, **kwargs))


def test_dead_bmc_falls_back_to_the_next_level(bmc_lab: BmcLab, bmc: BmcHandle) -> None:
    history = FenceHistory()
    target = node(NOBODY, (FenceLevel(("bmc",)), FenceLevel(("agent",))))
    result = fence(bmc_lab, target, (ipmi(timeout_s=4), ipmilan(address=bmc.address)), history,
                   retries=1)
    assert result.success and result.level == 2, result.message
    assert bmc.power() == "off"
    steps = [(a.level, a.device, a.action, a.outcome) for a in history.attempts()]
    assert steps == [(1, "bmc", "off", "unreachable")] * 2 + [
        (2, "agent", "off", "ok"), (2, "agent", "verify", "ok")]


def test_refused_credentials_are_not_retried(bmc_lab: BmcLab, bmc: BmcHandle) -> None:
    history = FenceHistory()
    target = node(bmc.address, (FenceLevel(("wrong",)), FenceLevel(("bmc",))))
    result = fence(bmc_lab, target, (ipmi("wrong", password="guess"), ipmi("bmc")), history)
    assert result.level == 2 and bmc.power() == "off"
    assert [(a.device, a.outcome) for a in history.attempts()] == [
        ("wrong", "auth"), ("bmc", "ok"), ("bmc", "ok")]


def test_bmc_dead_with_its_node_leaves_the_operator(bmc_lab: BmcLab, bmc: BmcHandle) -> None:
    bmc_lab.stop_bmc(bmc)  # the node lost power and its BMC with it
    history, acks = FenceHistory(), ManualAcks()
    target = node(bmc.address, (FenceLevel(("bmc",)), FenceLevel(("operator",))))
    devices = (ipmi(timeout_s=4), FenceDeviceDef(name="operator", type="manual",
                                                 timeout_s=60))

    async def operator_confirms() -> None:
        for _ in range(3000):
            if acks.ack("node1"):
                return
            await asyncio.sleep(0.02)

    async def go() -> Any:
        config = ClusterConfig(name="c", key_file="k", nodes=(target,), fence_devices=devices)
        confirm = asyncio.create_task(operator_confirms())
        result = await fence_node(target, config, history, acks, retries=0)
        await confirm
        return result

    result = bmc_lab.in_client(lambda: asyncio.run(go()))
    assert result.success and result.level == 2
    assert [(a.device, a.action, a.outcome) for a in history.attempts()] == [
        ("bmc", "off", "unreachable"), ("operator", "off", "ok"),
        ("operator", "verify", "ok")]
