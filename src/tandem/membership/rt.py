"""Best-effort real-time footing for the heartbeat process.

Under memory or CPU pressure a healthy node can miss its heartbeats and be fenced
by its peer. A real-time scheduling class and locked memory make that much less
likely. Neither is essential, so each step reports whether it worked and why not
instead of raising: the daemon logs the outcome and carries on.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
from dataclasses import dataclass

DEFAULT_PRIORITY = 10

# mlockall flags differ on a few architectures (see <bits/mman-linux.h> and kin).
_MCL_BY_MACHINE: dict[str, tuple[int, int]] = {
    "ppc": (0x2000, 0x4000), "ppc64": (0x2000, 0x4000), "ppc64le": (0x2000, 0x4000),
    "sparc": (0x2000, 0x4000), "sparc64": (0x2000, 0x4000),
    "alpha": (8192, 16384),
}


@dataclass(frozen=True)
class Outcome:
    """Whether one step took effect, and a human explanation either way."""

    ok: bool
    detail: str


@dataclass(frozen=True)
class RealtimeReport:
    """Outcome of both steps of `try_realtime`."""

    scheduler: Outcome
    memory: Outcome

    @property
    def ok(self) -> bool:
        """Both steps worked."""
        return self.scheduler.ok and self.memory.ok


def set_fifo(priority: int = DEFAULT_PRIORITY) -> Outcome:
    """Switch the calling thread to SCHED_FIFO at `priority`.

    SCHED_RESET_ON_FORK is set too, so resource agents and worker threads started
    later run at normal priority and a runaway one cannot starve the machine.
    """
    policy = getattr(os, "SCHED_FIFO", None)
    if policy is None or not hasattr(os, "sched_setscheduler"):
        return Outcome(False, "SCHED_FIFO is not available on this platform")
    low, high = os.sched_get_priority_min(policy), os.sched_get_priority_max(policy)
    if not low <= priority <= high:
        return Outcome(False, f"priority {priority} outside {low}..{high}")
    flags = policy | getattr(os, "SCHED_RESET_ON_FORK", 0)
    try:
        os.sched_setscheduler(0, flags, os.sched_param(priority))
    except OSError as exc:
        hint = " (needs CAP_SYS_NICE or an RLIMIT_RTPRIO)" if exc.errno == errno.EPERM else ""
        return Outcome(False, f"sched_setscheduler: {exc.strerror or exc}{hint}")
    return Outcome(True, f"SCHED_FIFO priority {priority}")


def lock_memory() -> Outcome:
    """mlockall(MCL_CURRENT | MCL_FUTURE) so that the daemon is never paged out."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        mlockall = libc.mlockall
    except (OSError, AttributeError) as exc:
        return Outcome(False, f"mlockall unavailable: {exc}")
    current, future = _MCL_BY_MACHINE.get(platform.machine(), (1, 2))
    mlockall.argtypes = [ctypes.c_int]
    mlockall.restype = ctypes.c_int
    if mlockall(current | future) != 0:
        code = ctypes.get_errno()
        hint = " (raise RLIMIT_MEMLOCK or run as root)" if code in (errno.EPERM,
                                                                  errno.ENOMEM) else ""
        return Outcome(False, f"mlockall: {os.strerror(code)}{hint}")
    return Outcome(True, "memory locked (current and future)")


# mallopt(3) parameters (<malloc.h>).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
HEAP_MMAP_THRESHOLD = 1 << 20
HEAP_TRIM_THRESHOLD = 4 << 20


def keep_buffers_in_heap() -> Outcome:
    """Have glibc serve allocations up to 1 MiB from the heap and keep freed heap.

    asyncio reads every datagram into a fresh 256 KiB buffer (its transports'
    `max_size`), above glibc's default mmap threshold (128 KiB): each one became a new
    mapping, unmapped right after, and under mlockall(MCL_FUTURE) also faulted in and
    zeroed as it was made (about 170 us a datagram here, 10 us from the heap). A fixed
    threshold (which also stops glibc from moving it) and a trim threshold above it let
    those buffers reuse the same locked heap pages.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError) as exc:
        return Outcome(False, f"mallopt unavailable: {exc}")
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    if not (mallopt(_M_MMAP_THRESHOLD, HEAP_MMAP_THRESHOLD)
            and mallopt(_M_TRIM_THRESHOLD, HEAP_TRIM_THRESHOLD)):
        return Outcome(False, "mallopt refused the thresholds")
    return Outcome(True, "receive buffers from the heap")


def try_realtime(priority: int = DEFAULT_PRIORITY) -> RealtimeReport:
    """Try SCHED_FIFO, then mlockall; never raises."""
    try:
        scheduler = set_fifo(priority)
    except Exception as exc:  # a platform oddity must not stop the daemon
        scheduler = Outcome(False, f"unexpected error: {exc}")
    try:
        memory = lock_memory()
    except Exception as exc:
        memory = Outcome(False, f"unexpected error: {exc}")
    return RealtimeReport(scheduler=scheduler, memory=memory)
