"""CPU time and memory of processes, from /proc: what a daemon costs at rest."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class ProcTimes:
    """CPU seconds used so far by a process (user + system, plus its reaped children)
    and its resident memory."""

    cpu_s: float
    rss_bytes: int


def proc_times(pid: int) -> ProcTimes | None:
    """None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the command: state is field 3; utime..cstime are 14-17; rss is 24.
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return ProcTimes((utime + stime + cutime + cstime) / TICKS, int(fields[21]) * PAGE)


@dataclass(frozen=True)
class Usage:
    """CPU of a set of processes over a window."""

    seconds: float
    cpu_s: dict[int, float]
    rss_bytes: dict[int, int]

    def percent(self, pid: int) -> float:
        """Share of one core used by `pid` over the window."""
        return 100.0 * self.cpu_s[pid] / self.seconds


def measure_cpu(pids: list[int], seconds: float) -> Usage:
    """CPU used by each of `pids` over `seconds` (processes that vanish are left out)."""
    before = {pid: t for pid in pids if (t := proc_times(pid)) is not None}
    started = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    after = {pid: t for pid in before if (t := proc_times(pid)) is not None}
    return Usage(elapsed, {pid: after[pid].cpu_s - before[pid].cpu_s for pid in after},
                 {pid: after[pid].rss_bytes for pid in after})
