"""CPU time and memory of a set of processes, read from /proc.

CPU counts user + system time of each process plus that of its children it has reaped
(cutime/cstime), so work a daemon forks out (monitor scripts, ipmitool) is charged to it,
as it would be on a real node. Memory is resident set size (what `ps` shows) and PSS
(shared pages split between their users, so shared libraries are not counted twice).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def cpu_ticks(pid: int) -> int | None:
    """utime + stime + cutime + cstime of `pid` (None if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # fields[0] is the state (field 3 of proc(5)); utime is field 14.
    return sum(int(x) for x in fields[11:15])


def rss_kb(pid: int) -> int | None:
    try:
        statm = Path(f"/proc/{pid}/statm").read_text().split()
    except OSError:
        return None
    return int(statm[1]) * PAGE_KB


def pss_kb(pid: int) -> int | None:
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return None


def children_of(pid: int) -> list[int]:
    """The live processes whose parent is `pid` (one /proc scan)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:  # field 4 of proc(5): the parent's pid
            found.append(int(entry.name))
    return sorted(found)


def name_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


@dataclass
class Usage:
    """Accumulated readings of one group of processes (a stack's daemon on one node)."""

    pids: list[int]
    start_ticks: int = 0
    end_ticks: int = 0
    rss_samples_kb: list[int] = field(default_factory=list)
    pss_kb: int = 0
    lost: list[int] = field(default_factory=list)

    def begin(self) -> None:
        self.start_ticks = sum(cpu_ticks(p) or 0 for p in self.pids)

    def sample(self) -> None:
        self.rss_samples_kb.append(sum(rss_kb(p) or 0 for p in self.pids))

    def finish(self) -> None:
        readings = {p: cpu_ticks(p) for p in self.pids}
        self.lost = [p for p, t in readings.items() if t is None]
        self.end_ticks = sum(t or 0 for t in readings.values())
        self.pss_kb = sum(pss_kb(p) or 0 for p in self.pids)

    def cpu_percent(self, seconds: float) -> float:
        """Share of one core over `seconds`."""
        return 100.0 * (self.end_ticks - self.start_ticks) / TICKS / seconds

    def rss_mb(self) -> float:
        samples = self.rss_samples_kb or [0]
        return sum(samples) / len(samples) / 1024

    def max_rss_mb(self) -> float:
        return max(self.rss_samples_kb or [0]) / 1024


@dataclass(frozen=True)
class Window:
    """CPU of a set of processes over a window, and their memory at its end."""

    seconds: float
    cpu_s: dict[int, float]
    rss_bytes: dict[int, int]

    def percent(self, pid: int) -> float:
        """Share of one core used by `pid` over the window."""
        return 100.0 * self.cpu_s[pid] / self.seconds


def measure_cpu(pids: list[int], seconds: float) -> Window:
    """CPU used by each of `pids` over `seconds` (processes that vanish are left out)."""
    before = {pid: t for pid in pids if (t := cpu_ticks(pid)) is not None}
    started = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    after = {pid: t for pid in before if (t := cpu_ticks(pid)) is not None}
    rss = {pid: (rss_kb(pid) or 0) * 1024 for pid in after}
    return Window(elapsed, {pid: (after[pid] - before[pid]) / TICKS for pid in after}, rss)
