"""IPMI sessions kept open: the real ipmitool (`shell`) against the lab's VirtualBmc on
loopback. One session serves many commands; a session that breaks (BMC restarted,
cancelled mid-command, late answer) is closed and the command runs one-shot instead, so
a kept session never makes a fence fail; a BMC that refuses the session is not asked
again at every command."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tandem.config.model import FenceDeviceDef
from tandem.fencing import (
    FenceAuthError,
    FenceConfigError,
    FenceTarget,
    PowerState,
    ipmishell,
)
from tandem.fencing.ipmi import STATUS_ANSWER, IpmiDevice
from tandem.fencing.ipmishell import IpmiSessions
from tandem.lab.bmc import VirtualBmc

T = TypeVar("T")
USER, PASSWORD = "admin", "kept-secret"


@dataclass
class Switch:
    """A node's power, as the BMC switches it; `off_delay_s` makes power-off slow."""

    on: bool = True
    off_delay_s: float = 0.0
    offs: int = 0

    def is_on(self) -> bool:
        return self.on

    def power_off(self) -> None:
        time.sleep(self.off_delay_s)
        self.offs += 1
        self.on = False

    def power_on(self) -> None:
        self.on = True


@dataclass
class LoopBmc:
    """A VirtualBmc serving on 127.0.0.1 in a thread; `restart` forgets its sessions."""

    port: int
    switch: Switch = field(default_factory=Switch)
    server: VirtualBmc | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.stop = threading.Event()
        self.server = VirtualBmc("127.0.0.1", self.port, USER, PASSWORD, self.switch)
        self.thread = threading.Thread(target=self.server.serve, args=(self.stop, 0.05),
                                       daemon=True)
        self.thread.start()

    def halt(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(5)
        if self.server is not None:
            self.server.socket.close()

    def restart(self) -> None:
        self.halt()
        self.start()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def bmc() -> Iterator[LoopBmc]:
    server = LoopBmc(free_udp_port())
    server.start()
    try:
        yield server
    finally:
        server.halt()


def target(bmc: LoopBmc, password: str = PASSWORD) -> FenceTarget:
    return FenceTarget(node="node2", address="127.0.0.1", port=bmc.port, user=USER,
                       password=password)


def device(session: str = "keep", sessions: IpmiSessions | None = None) -> IpmiDevice:
    options = () if session == "keep" else (("session", session),)
    return IpmiDevice(FenceDeviceDef(name="bmc", type="ipmi", timeout_s=3, options=options),
                      sessions=sessions)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def test_one_session_serves_every_command(bmc: LoopBmc) -> None:
    async def scenario() -> list[PowerState]:
        sessions = IpmiSessions()
        try:
            dev = device(sessions=sessions)
            states = [await dev.status(target(bmc))]
            await dev.off(target(bmc))
            states.append(await dev.status(target(bmc)))
            await dev.on(target(bmc))
            states.append(await dev.status(target(bmc)))
            assert sessions.open_count() == 1
            return states
        finally:
            await sessions.close()
            assert sessions.open_count() == 0
    states = run(scenario())
    assert states == [PowerState.ON, PowerState.OFF, PowerState.ON]
    assert bmc.switch.offs == 1


def test_counts_one_open_for_five_commands(bmc: LoopBmc) -> None:
    async def scenario() -> ipmishell.SessionCounters:
        sessions = IpmiSessions()
        try:
            dev = device(sessions=sessions)
            for _ in range(5):
                await dev.status(target(bmc))
            return sessions.counters
        finally:
            await sessions.close()
    counters = run(scenario())
    assert (counters.opened, counters.answered, counters.broken) == (1, 5, 0)


def test_a_restarted_bmc_breaks_the_session_and_the_command_still_works(
        bmc: LoopBmc) -> None:
    """ipmitool does not set a session up again inside a shell: after the BMC forgot
    it, the command must go one-shot, and the next one opens a new session."""
    async def scenario() -> tuple[PowerState, ipmishell.SessionCounters]:
        sessions = IpmiSessions()
        try:
            dev = device(sessions=sessions)
            await dev.status(target(bmc))
            bmc.restart()
            await dev.off(target(bmc))
            state = await dev.status(target(bmc))
            return state, sessions.counters
        finally:
            await sessions.close()
    state, counters = run(scenario())
    assert state is PowerState.OFF and bmc.switch.offs == 1
    assert (counters.opened, counters.broken) == (2, 1)


def test_a_refused_session_gives_the_one_shot_error_and_is_not_retried_at_once(
        bmc: LoopBmc) -> None:
    async def scenario() -> ipmishell.SessionCounters:
        sessions = IpmiSessions()
        try:
            dev = device(sessions=sessions)
            for _ in range(2):
                with pytest.raises(FenceAuthError):
                    await dev.status(target(bmc, password="wrong"))
            return sessions.counters
        finally:
            await sessions.close()
    counters = run(scenario())
    assert (counters.opened, counters.failed_opens) == (0, 1)


def test_cancelled_mid_command_closes_the_session(bmc: LoopBmc) -> None:
    """The answer to a cancelled command would be read as the next command's."""
    bmc.switch.off_delay_s = 1.0

    async def scenario() -> tuple[int, int]:
        sessions = IpmiSessions()
        try:
            dev = device(sessions=sessions)
            await dev.status(target(bmc))
            task = asyncio.get_running_loop().create_task(dev.off(target(bmc)))
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            left = sessions.open_count()
            await asyncio.sleep(1.0)  # the BMC finishes the power-off it was given
            assert await dev.status(target(bmc)) is PowerState.OFF
            return left, sessions.counters.opened
        finally:
            await sessions.close()
    assert run(scenario()) == (0, 2)


def test_per_call_devices_keep_no_session(bmc: LoopBmc) -> None:
    async def scenario() -> int:
        sessions = IpmiSessions()
        dev = device("per-call", sessions)
        assert await dev.status(target(bmc)) is PowerState.ON
        return sessions.counters.opened
    assert run(scenario()) == 0


def test_an_unknown_session_mode_is_refused() -> None:
    with pytest.raises(FenceConfigError, match="session must be keep or per-call"):
        device("sometimes")


def test_idle_sessions_are_kept_alive_and_forgotten_when_unused(
        bmc: LoopBmc, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> tuple[int, int, int]:
        sessions = IpmiSessions(keepalive_s=0.0)
        try:
            dev = device(sessions=sessions)
            await dev.status(target(bmc))
            await sessions.refresh(STATUS_ANSWER)  # idle for >= 0 s: a status read
            answered = sessions.counters.answered
            monkeypatch.setattr(ipmishell, "FORGET_S", 0.0)
            await asyncio.sleep(0.01)
            await sessions.refresh(STATUS_ANSWER)
            return answered, sessions.open_count(), sessions.counters.broken
        finally:
            await sessions.close()
    assert run(scenario()) == (2, 0, 0)


ORPHAN = r"""
import asyncio, sys
from tandem.fencing.ipmi import IpmiDevice
from tandem.fencing.ipmishell import IpmiSessions
from tandem.config.model import FenceDeviceDef
from tandem.fencing import FenceTarget

async def main():
    sessions = IpmiSessions()
    dev = IpmiDevice(FenceDeviceDef(name="bmc", type="ipmi"), sessions=sessions)
    await dev.status(FenceTarget(node="n", address="127.0.0.1", port=int(sys.argv[1]),
                                 user="admin", password="kept-secret"))
    entry = next(iter(sessions._entries.values()))
    print(entry.shell.proc.pid, flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def test_a_daemon_killed_outright_leaves_no_ipmitool_behind(bmc: LoopBmc) -> None:
    """ipmitool's shell does not end when its input closes; it must die with us."""
    daemon = subprocess.Popen([sys.executable, "-c", ORPHAN, str(bmc.port)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert daemon.stdout is not None
        shell = int(daemon.stdout.readline())
        assert Path(f"/proc/{shell}/cmdline").read_bytes().split(b"\0")[-2] == b"shell"
    finally:
        daemon.kill()
        daemon.wait(10)
    deadline = time.monotonic() + 5
    while Path(f"/proc/{shell}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    survived = Path(f"/proc/{shell}").exists()
    if survived:  # leave nothing behind, even when failing
        os.kill(shell, signal.SIGKILL)
    assert not survived


def test_each_bmc_and_password_gets_its_own_session(bmc: LoopBmc) -> None:
    """The session a command reuses is that of its own BMC, opened with its own password:
    powering off node3 never goes down node2's session, and a password that no longer
    fits is refused by the BMC instead of riding on the session the old one opened."""
    other = LoopBmc(free_udp_port())
    other.start()

    async def scenario() -> int:
        sessions = IpmiSessions()
        try:
            dev = device(sessions=sessions)
            assert await dev.status(target(bmc)) == PowerState.ON
            await dev.off(target(other))
            count = sessions.open_count()
            with pytest.raises(FenceAuthError):
                await dev.status(target(bmc, password="not-the-password"))
            return count
        finally:
            await sessions.close()

    try:
        assert run(scenario()) == 2
        assert (bmc.switch.on, other.switch.on) == (True, False)
    finally:
        other.halt()
