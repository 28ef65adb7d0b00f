"""Processes as /proc shows them, named so that a recycled pid is never mistaken for them.

A pid alone is not an identity: once a process is gone the kernel hands its number to
the next one. A pid together with the process's start time (clock ticks after boot) is
unique for the life of the machine, so agents record both, and every signal goes
through a pidfd opened *before* the start time is checked again: the signal then
reaches the process that was checked, or nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
GONE_STATES = ("Z", "X")  # zombie or dead: exited, only waiting to be reaped
POLL_S = 0.02


@dataclass(frozen=True)
class ProcStat:
    """The fields of /proc/PID/stat that agents use."""

    pid: int
    state: str
    pgid: int
    sid: int
    start: int

    @property
    def ref(self) -> ProcRef:
        return ProcRef(self.pid, self.start)

    @property
    def alive(self) -> bool:
        return self.state not in GONE_STATES


@dataclass(frozen=True)
class ProcRef:
    """One process for the life of the machine: its pid and its start time."""

    pid: int
    start: int


def proc_stat(pid: int) -> ProcStat | None:
    """What /proc says about `pid` now (None if there is no such process)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (OSError, ValueError):
        return None
    # The command name may contain spaces and parentheses: split after the last ')'.
    fields = text.rsplit(")", 1)[1].split()
    return ProcStat(pid=pid, state=fields[0], pgid=int(fields[2]), sid=int(fields[3]),
                    start=int(fields[19]))


def is_running(ref: ProcRef) -> bool:
    """The very process `ref` names still runs (not exited, pid not recycled)."""
    now = proc_stat(ref.pid)
    return now is not None and now.start == ref.start and now.alive


def all_pids() -> list[int]:
    """Every pid visible in /proc (processes, not threads)."""
    return [int(entry.name) for entry in os.scandir(PROC) if entry.name.isdigit()]


def session_members(sid: int, not_before: int) -> list[ProcRef]:
    """Live processes of session `sid` that started at or after `not_before` (ticks):
    the processes a supervised command left behind, even once its leader has exited."""
    found = []
    for pid in all_pids():
        now = proc_stat(pid)
        if now is not None and now.sid == sid and now.alive and now.start >= not_before:
            found.append(now.ref)
    return found


def send_signal(ref: ProcRef, sig: int) -> bool:
    """Signal exactly the process `ref` names; False if it is already gone."""
    try:
        fd = os.pidfd_open(ref.pid)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        if not is_running(ref):  # checked after the pidfd pins the process
            return False
        signal.pidfd_send_signal(fd, sig)
        return True
    except ProcessLookupError:
        return False
    finally:
        os.close(fd)


def signal_all(refs: Iterable[ProcRef], sig: int) -> list[ProcRef]:
    """Signal every process of `refs`; those that received it."""
    return [ref for ref in refs if send_signal(ref, sig)]


async def wait_gone(refs: Iterable[ProcRef], timeout_s: float) -> list[ProcRef]:
    """Wait (without blocking the loop) until the processes have exited, at most
    `timeout_s`; those still running."""
    remaining = [ref for ref in refs if is_running(ref)]
    rounds = max(1, int(timeout_s / POLL_S))
    for _ in range(rounds):
        if not remaining:
            break
        await asyncio.sleep(POLL_S)
        remaining = [ref for ref in remaining if is_running(ref)]
    return remaining


def mount_namespace(pid: int | str = "self") -> str | None:
    """An identifier of the mount namespace of `pid` (None if unreadable)."""
    with contextlib.suppress(OSError):
        return os.readlink(PROC / str(pid) / "ns" / "mnt")
    return None
