"""Fence one node: its levels in order, each level's devices in order, and a device
counts only once its status reads off (DESIGN.md: fencing is confirmed by power status).

Per level, one delay first (the level's `delay_ms`, else the longest `delay_ms` of its
devices: that is how a preferred node wins a fence race in a two-node cell). Per
device, up to `1 + retries` rounds of "off, then poll status until off"; a wrong
password or a broken definition is not retried. When a device of a level fails, the
level fails and the next one is tried. Every action is appended to the history, and
a cancelled fence kills the helper processes it was running.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tandem.config.model import ClusterConfig, FenceLevel, NodeDef
from tandem.fencing.base import (
    FenceAgentError,
    FenceAuthError,
    FenceConfigError,
    FenceDevice,
    FenceError,
    FenceTarget,
    FenceTimeout,
    PowerState,
    resolve_target,
)
from tandem.fencing.devices import make_device
from tandem.fencing.history import FenceAttempt, FenceHistory
from tandem.fencing.ipmishell import IpmiSessions
from tandem.fencing.manual import ManualAcks

log = logging.getLogger(__name__)

DEFAULT_VERIFY_TIMEOUT_S = 15.0
POLL_INTERVAL_S = 0.25
RETRY_PAUSE_S = 0.5
CALL_GRACE_S = 5.0  # beyond a device's own timeout before we stop waiting for it
MAX_POLLS = 10_000
NOT_RETRIED = (FenceAuthError, FenceConfigError)


@dataclass(frozen=True)
class FenceResult:
    """The outcome of one fence request; `level` is the level (from 1) that fenced."""

    node: str
    success: bool
    level: int | None
    devices: tuple[str, ...]
    message: str
    duration_ms: int
    attempts: tuple[FenceAttempt, ...]


@dataclass(frozen=True)
class _Clock:
    """When an action started: wall time for the history, monotonic for durations."""

    wall: float
    t0: float

    @classmethod
    def start(cls) -> _Clock:
        return cls(time.time(), time.monotonic())


@dataclass(frozen=True)
class _Policy:
    retries: int
    verify_timeout_s: float
    poll_interval_s: float
    retry_pause_s: float


async def fence_node(node: NodeDef, config: ClusterConfig, history: FenceHistory,
                     acks: ManualAcks, *, retries: int = 2,
                     verify_timeout_s: float = DEFAULT_VERIFY_TIMEOUT_S,
                     poll_interval_s: float = POLL_INTERVAL_S,
                     retry_pause_s: float = RETRY_PAUSE_S,
                     devices: Mapping[str, FenceDevice] | None = None,
                     sessions: IpmiSessions | None = None) -> FenceResult:
    """Fence `node` through its configured levels; see the module docstring.

    `devices` replaces the device objects built from the configuration, by name;
    `sessions` are the daemon's kept IPMI sessions.
    """
    if retries < 0 or verify_timeout_s <= 0 or poll_interval_s <= 0 or retry_pause_s < 0:
        raise ValueError("retries, pauses must be >= 0 and timeouts, intervals > 0")
    policy = _Policy(retries, verify_timeout_s, poll_interval_s, retry_pause_s)
    return await _Fencer(node, config, history, acks, devices=devices or {},
                         policy=policy, sessions=sessions).run()


class _Fencer:
    """The state of one fence request."""

    def __init__(self, node: NodeDef, config: ClusterConfig, history: FenceHistory,
                 acks: ManualAcks, *, devices: Mapping[str, FenceDevice],
                 policy: _Policy, sessions: IpmiSessions | None = None) -> None:
        self.node = node
        self.sessions = sessions
        self.config = config
        self.history = history
        self.acks = acks
        self.devices = devices
        self.policy = policy
        self.attempts: list[FenceAttempt] = []
        self.failures: dict[tuple[int, str], str] = {}
        source = Path(config.source)
        self.base_dir = source.parent if source.is_file() else None

    async def run(self) -> FenceResult:
        start = time.monotonic()
        for index, level in enumerate(self.node.fence, start=1):
            if await self._level(index, level):
                message = (f"{self.node.name} fenced by level {index} "
                           f"({', '.join(level.devices)}): power reads off")
                log.warning("%s", message)
                return self._result(start, index, level.devices, message)
        reasons = "; ".join(f"level {lv} {err}" for (lv, _), err in self.failures.items())
        message = f"{self.node.name} NOT fenced: {reasons or 'no fence levels configured'}"
        log.error("%s", message)
        return self._result(start, None, (), message)

    def _result(self, start: float, level: int | None, devices: tuple[str, ...],
                message: str) -> FenceResult:
        return FenceResult(node=self.node.name, success=level is not None, level=level,
                           devices=devices, message=message,
                           duration_ms=_ms_since(start), attempts=tuple(self.attempts))

    def _delay_ms(self, level: FenceLevel) -> int:
        if level.delay_ms is not None:
            return level.delay_ms
        delays = [d.delay_ms for d in self.config.fence_devices if d.name in level.devices]
        return max(delays, default=0)

    async def _level(self, index: int, level: FenceLevel) -> bool:
        delay_ms = self._delay_ms(level)
        if delay_ms > 0 and await self._reads_off(level):
            log.info("fencing %s: its power already reads off: no race, no delay",
                     self.node.name)
        elif delay_ms > 0:
            log.info("fencing %s: level %d waits %d ms first", self.node.name, index, delay_ms)
            await asyncio.sleep(delay_ms / 1000.0)
        for name in level.devices:
            if not await self._with_device(index, name):
                return False
        return True

    async def _reads_off(self, level: FenceLevel) -> bool:
        """Is the target already powered off? Then it cannot be racing to fence us, and
        the delay that settles fence races would only slow the failover down."""
        try:
            device, target, timeout_s = self._prepare(level.devices[0])
            if self.config.fence_device(level.devices[0]).type == "manual":
                return False
            state = await asyncio.wait_for(device.status(target), timeout_s)
        except (FenceError, TimeoutError):
            return False
        return state is PowerState.OFF

    def _prepare(self, name: str) -> tuple[FenceDevice, FenceTarget, float]:
        try:
            definition = self.config.fence_device(name)
        except KeyError as exc:
            raise FenceConfigError(f"unknown fence device {name!r}") from exc
        device = self.devices.get(name) or make_device(definition, self.acks, self.sessions)
        target = resolve_target(self.node, definition, self.base_dir)
        return device, target, definition.timeout_s

    async def _with_device(self, index: int, name: str) -> bool:
        try:
            device, target, timeout_s = self._prepare(name)
        except FenceConfigError as exc:
            self._record(index, name, "off", _Clock.start(), exc)
            return False
        for round_ in range(1 + self.policy.retries):
            if round_:
                await asyncio.sleep(self.policy.retry_pause_s)
            error = await self._call(index, name, "off", timeout_s,
                                     lambda: device.off(target))
            if error is None and await self._verify(index, device, target):
                return True
            if isinstance(error, NOT_RETRIED):
                break
        return False

    async def _call(self, index: int, name: str, action: str, timeout_s: float,
                    call: Callable[[], Awaitable[None]]) -> FenceError | None:
        clock = _Clock.start()
        limit = timeout_s + CALL_GRACE_S
        error: FenceError | None = None
        try:
            await asyncio.wait_for(call(), limit)
        except TimeoutError:
            error = FenceTimeout(f"{name}: {action} of {self.node.name} gave no answer "
                                 f"within {limit:g} s")
        except FenceError as exc:
            error = exc
        except asyncio.CancelledError:
            self._record(index, name, action, clock, None, cancelled=True)
            raise
        except Exception as exc:  # a broken device must not stop the next level
            log.exception("fence device %s failed unexpectedly", name)
            error = FenceAgentError(f"{name}: {action} failed: {exc!r}")
        self._record(index, name, action, clock, error)
        return error

    async def _verify(self, index: int, device: FenceDevice, target: FenceTarget) -> bool:
        clock = _Clock.start()
        deadline = clock.t0 + self.policy.verify_timeout_s
        state, last_error, polls = PowerState.UNKNOWN, None, 0
        while polls < MAX_POLLS and (remaining := deadline - time.monotonic()) > 0:
            polls += 1
            try:
                state = await asyncio.wait_for(device.status(target), remaining)
                last_error = None
            except TimeoutError:
                state, last_error = PowerState.UNKNOWN, None
            except FenceError as exc:
                state, last_error = PowerState.UNKNOWN, exc
                if isinstance(exc, NOT_RETRIED):
                    break
            except asyncio.CancelledError:
                self._record(index, device.name, "verify", clock, None, cancelled=True)
                raise
            if state is PowerState.OFF:
                self._record(index, device.name, "verify", clock, None)
                return True
            await asyncio.sleep(min(self.policy.poll_interval_s,
                                    max(0.0, deadline - time.monotonic())))
        error = _verify_error(device.name, state, last_error, polls, _ms_since(clock.t0))
        self._record(index, device.name, "verify", clock, error)
        return False

    def _record(self, index: int, device: str, action: str, clock: _Clock,
                error: FenceError | None, *, cancelled: bool = False) -> None:
        outcome = "cancelled" if cancelled else ("ok" if error is None else error.kind)
        attempt = FenceAttempt(node=self.node.name, level=index, device=device,
                               action=action, outcome=outcome, duration_ms=_ms_since(clock.t0),
                               started_at=clock.wall, error=str(error) if error else None)
        self.history.append(attempt)
        self.attempts.append(attempt)
        if error is not None:
            text = str(error)
            self.failures[(index, device)] = (text if text.startswith(f"{device}:")
                                              else f"{device}: {text}")
            log.warning("fencing %s: level %d %s %s: %s", self.node.name, index, device,
                        action, error)
        else:
            log.info("fencing %s: level %d %s %s: %s in %d ms", self.node.name, index,
                     device, action, outcome, attempt.duration_ms)


def _verify_error(device: str, state: PowerState, last_error: FenceError | None,
                  polls: int, elapsed_ms: int) -> FenceError:
    if isinstance(last_error, NOT_RETRIED):
        return last_error
    detail = f"{device}: power reads {state} after {elapsed_ms} ms ({polls} status reads)"
    return FenceTimeout(detail + (f"; last error: {last_error}" if last_error else ""))


def _ms_since(t0: float) -> int:
    return int((time.monotonic() - t0) * 1000)
