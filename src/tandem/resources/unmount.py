"""Unmounting a file system that may be busy, with the escalation the field has long
used: a plain unmount; if busy, SIGTERM to the processes using it, then SIGKILL, each
a bounded number of rounds with an unmount after every round; as the last resort a lazy
unmount. Only processes of this mount namespace that really use the mount are signalled
(see `mounts.users_of`), each through a pidfd so that a recycled pid is never hit.

A lazy unmount only detaches the mount from the tree: if a process still holds a file,
the file system stays alive (and writable) behind it. So after a lazy unmount the
device is checked; if it is still held, the stop has failed, whatever umount said —
starting the file system on another node then would be the double mount that safety
rule 3 forbids.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass, field

from tandem.resources.mounts import device_released, mounts, users_of
from tandem.resources.proctab import ProcRef, signal_all, wait_gone
from tandem.util.procrun import CommandError, run_command

log = logging.getLogger("tandem.resources.fs")

# umount gets this long at most; the action's own timeout (tandem.resources.base.timed)
# normally cancels it much earlier, killing it with its process group.
COMMAND_CAP_S = 3600.0


@dataclass(frozen=True)
class Escalation:
    """How hard a busy unmount may push."""

    signal_users: bool = True
    rounds: int = 3
    wait_s: float = 2.0
    lazy: bool = True


@dataclass
class UnmountReport:
    """What was done to one mount, in order, for the result message and the log."""

    mountpoint: str
    ok: bool = False
    lazy: bool = False
    steps: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"{self.mountpoint}: " + "; ".join(self.steps)


def _pids(refs: list[ProcRef]) -> str:
    shown = ",".join(str(r.pid) for r in refs[:8])
    return shown + (f",... ({len(refs)} in all)" if len(refs) > 8 else "")


async def umount(mountpoint: str, *, lazy: bool = False) -> str | None:
    """One umount call; None once the mount point is no longer mounted, else the error."""
    argv = ["umount", *(["-l"] if lazy else []), mountpoint]
    try:
        done = await run_command(argv, timeout_s=COMMAND_CAP_S)
    except CommandError as exc:
        return str(exc)
    if done.ok:
        return None
    table = await asyncio.to_thread(mounts)
    return done.tail() if any(m.mountpoint == mountpoint for m in table) else None


async def _signal_rounds(mountpoint: str, sig: signal.Signals, policy: Escalation,
                         report: UnmountReport) -> bool | None:
    """Signal the mount's users and retry, up to `policy.rounds` times. True once
    unmounted, False if still busy, None if nobody uses it (signals cannot help)."""
    for _ in range(policy.rounds):
        users = await asyncio.to_thread(users_of, mountpoint)
        if not users:
            return None
        hit = signal_all(users, sig)
        report.steps.append(f"{sig.name} to pid {_pids(hit or users)}")
        await wait_gone(hit, policy.wait_s)
        error = await umount(mountpoint)
        if error is None:
            report.steps.append("unmounted")
            return True
    return False


async def unmount(mountpoint: str, device: str, policy: Escalation) -> UnmountReport:
    """Take `mountpoint` down, escalating as `policy` allows."""
    report = UnmountReport(mountpoint)
    error = await umount(mountpoint)
    if error is None:
        report.ok = True
        report.steps.append("unmounted")
        return report
    report.steps.append(f"busy ({error})")
    if policy.signal_users:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            done = await _signal_rounds(mountpoint, sig, policy, report)
            if done:
                report.ok = True
                return report
            if done is None:
                break
    if policy.lazy:
        await _lazy(mountpoint, device, report)
    return report


async def _lazy(mountpoint: str, device: str, report: UnmountReport) -> None:
    error = await umount(mountpoint, lazy=True)
    if error is not None:
        report.steps.append(f"lazy unmount failed ({error})")
        return
    if not await asyncio.to_thread(device_released, device):
        report.steps.append("LAZY unmount, but the file system is still held open "
                            f"({device} not released)")
        log.error("lazy unmount of %s left %s in use: not a clean stop", mountpoint, device)
        return
    report.ok = report.lazy = True
    report.steps.append("LAZY unmount (detached while still busy)")
    log.warning("lazy unmount of %s: %s", mountpoint, "; ".join(report.steps))
