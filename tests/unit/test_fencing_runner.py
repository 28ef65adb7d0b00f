"""The fence runner's order of work: levels, devices, delays, retries, verification by
status, history, and cancellation. Devices here are small in-test implementations of
the FenceDevice interface that script their answers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

import pytest

from tandem.config.model import BmcDef, ClusterConfig, FenceDeviceDef, FenceLevel, NodeDef
from tandem.fencing import (
    FenceAuthError,
    FenceDevice,
    FenceError,
    FenceHistory,
    FenceResult,
    FenceTarget,
    FenceUnreachable,
    ManualAcks,
    PowerState,
    fence_node,
)


class ScriptedDevice(FenceDevice):
    """Cuts a pretend power supply; `off_errors` are raised by the first off calls, and
    status reads on for `on_reads` reads after an accepted off before reading off."""

    def __init__(self, name: str, calls: list[tuple[str, str, float]], *,
                 off_errors: Iterable[FenceError] = (), on_reads: int = 0,
                 stuck_on: bool = False, hang: bool = False) -> None:
        super().__init__(FenceDeviceDef(name=name, type="external", agent="fence_test",
                                        timeout_s=5.0))
        self.calls = calls
        self.off_errors = list(off_errors)
        self.on_reads = on_reads
        self.stuck_on = stuck_on
        self.hang = hang
        self.powered = True
        self.reads_left = 0

    async def off(self, target: FenceTarget) -> None:
        self.calls.append((self.name, "off", time.monotonic()))
        if self.hang:
            await asyncio.sleep(3600)
        if self.off_errors:
            raise self.off_errors.pop(0)
        self.powered = self.stuck_on
        self.reads_left = self.on_reads

    async def status(self, target: FenceTarget) -> PowerState:
        self.calls.append((self.name, "status", time.monotonic()))
        if self.reads_left > 0:
            self.reads_left -= 1
            return PowerState.ON
        return PowerState.ON if self.powered else PowerState.OFF

    async def on(self, target: FenceTarget) -> None:
        self.powered = True


def cell(levels: tuple[FenceLevel, ...], device_delays: dict[str, int] | None = None
         ) -> tuple[NodeDef, ClusterConfig]:
    names = sorted({d for level in levels for d in level.devices})
    delays = device_delays or {}
    devices = tuple(FenceDeviceDef(name=n, type="external", agent="fence_test",
                                   delay_ms=delays.get(n, 0)) for n in names)
    node = NodeDef(name="node2", id=2, fence=levels,
                   bmc=BmcDef(address="198.51.100.102", password="pw"))
    return node, ClusterConfig(name="c", key_file="k", nodes=(node,), fence_devices=devices)


def run(node: NodeDef, config: ClusterConfig, devices: dict[str, FenceDevice],
        history: FenceHistory | None = None, **kwargs: Any) -> FenceResult:
    return asyncio.run(fence_node(node, config, history if history is not None else FenceHistory(),
                                  ManualAcks(),
                                  devices=devices, poll_interval_s=0.01, retry_pause_s=0,
                                  **kwargs))


def test_first_level_that_confirms_off_wins() -> None:
    calls: list[tuple[str, str, float]] = []
    node, config = cell((FenceLevel(("a",)), FenceLevel(("b",))))
    devices: dict[str, FenceDevice] = {"a": ScriptedDevice("a", calls),
                                       "b": ScriptedDevice("b", calls)}
    result = run(node, config, devices)
    assert result.success and result.level == 1 and result.devices == ("a",)
    assert [(d, a) for d, a, _ in calls] == [("a", "off"), ("a", "status")]


def test_failing_level_falls_back_to_the_next_after_bounded_retries() -> None:
    calls: list[tuple[str, str, float]] = []
    node, config = cell((FenceLevel(("a",)), FenceLevel(("b",))))
    dead = ScriptedDevice("a", calls, off_errors=[FenceUnreachable("no answer")] * 10)
    history = FenceHistory()
    result = run(node, config, {"a": dead, "b": ScriptedDevice("b", calls)}, history,
                 retries=2)
    assert result.success and result.level == 2
    assert [(d, a) for d, a, _ in calls] == [("a", "off")] * 3 + [("b", "off"), ("b", "status")]
    outcomes = [(a.level, a.device, a.action, a.outcome) for a in history.attempts()]
    assert outcomes == [(1, "a", "off", "unreachable")] * 3 + [(2, "b", "off", "ok"),
                                                             (2, "b", "verify", "ok")]
    assert history.attempts()[0].error == "no answer"
    assert history.last_confirmed_off("node2") is not None


def test_devices_of_a_level_run_in_order_and_all_must_succeed() -> None:
    calls: list[tuple[str, str, float]] = []
    node, config = cell((FenceLevel(("psu1", "psu2")), FenceLevel(("later",))))
    devices: dict[str, FenceDevice] = {
        "psu1": ScriptedDevice("psu1", calls),
        "psu2": ScriptedDevice("psu2", calls, off_errors=[FenceAuthError("denied")]),
        "later": ScriptedDevice("later", calls)}
    result = run(node, config, devices, retries=3)
    assert result.level == 2
    # psu2's wrong password is not retried; the level fails as a whole.
    assert [(d, a) for d, a, _ in calls] == [
        ("psu1", "off"), ("psu1", "status"), ("psu2", "off"), ("later", "off"),
        ("later", "status")]


def test_off_counts_only_once_status_reads_off() -> None:
    calls: list[tuple[str, str, float]] = []
    node, config = cell((FenceLevel(("slow",)),))
    result = run(node, config, {"slow": ScriptedDevice("slow", calls, on_reads=3)})
    assert result.success
    assert [a for _, a, _ in calls] == ["off", "status", "status", "status", "status"]


def test_power_that_stays_on_is_a_failed_fence() -> None:
    calls: list[tuple[str, str, float]] = []
    node, config = cell((FenceLevel(("liar",)),))
    history = FenceHistory()
    result = run(node, config, {"liar": ScriptedDevice("liar", calls, stuck_on=True)},
                 history, retries=1, verify_timeout_s=0.2)
    assert not result.success and result.level is None
    verifies = [a for a in history.attempts() if a.action == "verify"]
    assert len(verifies) == 2 and all(v.outcome == "timeout" for v in verifies)
    assert verifies[0].error is not None and "power reads on" in verifies[0].error
    assert result.message.startswith("node2 NOT fenced: level 1 liar: power reads on after")
    assert history.last_confirmed_off("node2") is None


def test_level_delay_is_applied_once_before_the_level(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[tuple[str, str, float]] = []
    node, config = cell((FenceLevel(("a",), delay_ms=300), FenceLevel(("b",))),
                        device_delays={"a": 5000})
    device = ScriptedDevice("a", calls, off_errors=[FenceUnreachable("x")] * 2)
    caplog.set_level(logging.INFO, logger="tandem.fencing.runner")
    start = time.monotonic()
    result = run(node, config, {"a": device, "b": ScriptedDevice("b", calls)}, retries=2)
    assert result.level == 1
    first_off = next(t for _, action, t in calls if action == "off")
    assert first_off - start >= 0.3  # the level's own delay, not the device's 5 s
    waits = [r.getMessage() for r in caplog.records if "waits" in r.getMessage()]
    assert waits == ["fencing node2: level 1 waits 300 ms first"]


def test_device_delay_is_used_when_the_level_sets_none(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[tuple[str, str, float]] = []
    node, config = cell((FenceLevel(("a", "b")),), device_delays={"a": 100, "b": 250})
    caplog.set_level(logging.INFO, logger="tandem.fencing.runner")
    start = time.monotonic()
    run(node, config, {"a": ScriptedDevice("a", calls), "b": ScriptedDevice("b", calls)})
    first_off = next(t for _, action, t in calls if action == "off")
    assert first_off - start >= 0.25
    waits = [r.getMessage() for r in caplog.records if "waits" in r.getMessage()]
    assert waits == ["fencing node2: level 1 waits 250 ms first"]


def test_unusable_definition_is_recorded_and_skipped() -> None:
    calls: list[tuple[str, str, float]] = []
    node = NodeDef(name="node3", id=3, fence=(FenceLevel(("bmc",)), FenceLevel(("b",))))
    config = ClusterConfig(name="c", key_file="k", nodes=(node,), fence_devices=(
        FenceDeviceDef(name="bmc", type="ipmi"),
        FenceDeviceDef(name="b", type="external", agent="fence_test")))
    history = FenceHistory()
    result = asyncio.run(fence_node(node, config, history, ManualAcks(),
                                    devices={"b": ScriptedDevice("b", calls)},
                                    poll_interval_s=0.01))
    assert result.level == 2
    first = history.attempts()[0]
    assert (first.device, first.outcome) == ("bmc", "config")
    assert first.error is not None and "no address" in first.error


def test_no_levels_means_not_fenced() -> None:
    node, config = cell(())
    result = run(node, config, {})
    assert not result.success and "no fence levels" in result.message


def test_cancellation_is_recorded_and_propagates() -> None:
    calls: list[tuple[str, str, float]] = []
    node, config = cell((FenceLevel(("hung",)),))
    history = FenceHistory()

    async def go() -> None:
        task = asyncio.create_task(fence_node(
            node, config, history, ManualAcks(),
            devices={"hung": ScriptedDevice("hung", calls, hang=True)}))
        for _ in range(200):
            if calls:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    assert [(a.action, a.outcome) for a in history.attempts()] == [("off", "cancelled")]


def test_manual_level_waits_for_an_operator() -> None:
    node = NodeDef(name="node1", id=1, fence=(FenceLevel(("operator",)),))
    config = ClusterConfig(name="c", key_file="k", nodes=(node,), fence_devices=(
        FenceDeviceDef(name="operator", type="manual", timeout_s=30.0),))
    acks = ManualAcks()
    history = FenceHistory()

    async def go() -> FenceResult:
        task = asyncio.create_task(fence_node(node, config, history, acks,
                                              poll_interval_s=0.01))
        for _ in range(500):
            if acks.pending() == ("node1",):
                break
            await asyncio.sleep(0.01)
        assert acks.ack("node1")
        return await task

    result = asyncio.run(go())
    assert result.success and result.level == 1
    assert [(a.action, a.outcome) for a in history.attempts()] == [("off", "ok"),
                                                                   ("verify", "ok")]


def test_bad_arguments_are_refused() -> None:
    node, config = cell((FenceLevel(("a",)),))
    with pytest.raises(ValueError):
        asyncio.run(fence_node(node, config, FenceHistory(), ManualAcks(), retries=-1))


def test_no_delay_when_the_target_already_reads_off(caplog: pytest.LogCaptureFixture) -> None:
    """A node whose power is already off (it lost power) cannot be racing to fence us:
    the race-settling delay is skipped, and the fence still ends verified."""
    calls: list[tuple[str, str, float]] = []
    node, config = cell((FenceLevel(("a",), delay_ms=3000),))
    device = ScriptedDevice("a", calls)
    device.powered = False
    caplog.set_level(logging.INFO, logger="tandem.fencing.runner")
    start = time.monotonic()
    result = run(node, config, {"a": device})
    assert result.success and time.monotonic() - start < 1.0
    assert [action for _, action, _ in calls] == ["status", "off", "status"]
    assert any("no race, no delay" in r.getMessage() for r in caplog.records)


class MuteAfterOff(ScriptedDevice):
    """Accepts "power off", then no status read answers (a BMC that died with the node's
    power, or one that lies about having acted)."""

    def __init__(self, name: str, calls: list[tuple[str, str, float]], *,
                 mute_before: bool = False) -> None:
        super().__init__(name, calls)
        self.mute = mute_before

    async def off(self, target: FenceTarget) -> None:
        await super().off(target)
        self.mute = True

    async def status(self, target: FenceTarget) -> PowerState:
        self.calls.append((self.name, "status", time.monotonic()))
        if self.mute:
            raise FenceUnreachable(f"{self.name}: no answer")
        return PowerState.ON if self.powered else PowerState.OFF


def test_power_off_accepted_then_no_status_is_not_a_fence() -> None:
    """DESIGN.md §2.1: only a status that reads off confirms a fence. A device that took
    "off" and then never answers a status read has NOT fenced the node."""
    calls: list[tuple[str, str, float]] = []
    node, config = cell((FenceLevel(("a",)),))
    result = run(node, config, {"a": MuteAfterOff("a", calls)}, verify_timeout_s=0.2,
                 retries=1)
    assert not result.success and result.level is None
    assert "off" in [action for _, action, _ in calls]
    assert "NOT fenced" in result.message


def test_a_status_read_that_fails_keeps_the_race_delay() -> None:
    """The race delay is skipped only when the target's power READS off; a status read
    that fails says nothing (the node may be alive and about to shoot): wait first."""
    calls: list[tuple[str, str, float]] = []
    node, config = cell((FenceLevel(("a",), delay_ms=300),))
    device = MuteAfterOff("a", calls, mute_before=True)
    start = time.monotonic()
    run(node, config, {"a": device}, verify_timeout_s=0.1, retries=0)
    offs = [at for _, action, at in calls if action == "off"]
    assert offs and offs[0] - start >= 0.3  # the delay ran before the first "off"
