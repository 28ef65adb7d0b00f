"""The stress run: a cell (2 nodes, or up to 16) left alone under full CPU load on both
cores (stress-ng) and/or 20% packet loss on one heartbeat ring, for minutes. Nothing is
broken, so every takeover, fence or node loss in the daemons' timelines is spurious.
How late heartbeats went out (worst and p99 over every node) is read from each daemon's
status at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchlib.errors import BenchError
from benchlib.install import ensure_debian
from benchlib.labs import built_lab
from chaos.cell import Cell
from chaos.cells import Profile, campaign_cell
from chaos.timeline import node_events
from tandem.common.events import EventKind
from tandem.lab.names import existing_labs
from tandem.lab.watch import SplitBrainWatch

Say = Callable[[str], None]
SCENARIOS = ("cpu", "loss", "both")
LOSS_PCT = 20.0
LOSS_NODE, LOSS_RING = "node1", "admin"  # on a two-node cell: the whole ring is lossy
SETTLE_S = 3.0
TICK_S = 10.0
PACKAGE = "stress-ng"


@dataclass
class StressResult:
    """What the daemons went through during one run."""

    profile: str
    scenario: str
    duration_s: float
    takeovers: int = 0  # a service started on another node than where it ran
    restarts: int = 0  # a service started again where it ran
    fences: int = 0
    node_losses: int = 0
    quorum_losses: int = 0
    monitor_failures: int = 0
    ring_down: int = 0
    nodes: int = 2
    max_heartbeat_lag_ms: float = 0.0  # the worst of every node
    p99_heartbeat_lag_ms: float = 0.0  # the worst node's p99
    stalls: int = 0  # the daemons' own "not scheduled for > token/2" events
    cpu_busy_pct: float = 0.0  # of the whole machine over the run (from /proc/stat)
    loss_how: str = ""
    neighbours: list[str] = field(default_factory=list)  # other labs seen during the run
    split_brain: list[str] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)  # a few of the spurious events

    @property
    def spurious_failovers(self) -> int:
        return self.takeovers + self.fences

    def to_json(self) -> dict[str, Any]:
        data = {k: (round(v, 2) if isinstance(v, float) else v)
                for k, v in self.__dict__.items()}
        data["spurious_failovers"] = self.spurious_failovers
        return data


def ensure_stress_ng(say: Say) -> None:
    """Install Debian's stress-ng if missing (nothing may start at install)."""
    if not shutil.which(PACKAGE):
        ensure_debian([PACKAGE], say)


def cpu_hog(seconds: float) -> subprocess.Popen[bytes]:
    """Every core busy for `seconds` (stress-ng stops by itself at the end)."""
    return subprocess.Popen([PACKAGE, "--cpu", str(os.cpu_count() or 2), "--cpu-load", "100",
                             "--timeout", f"{int(seconds)}s", "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stress_one(profile: Profile, scenario: str, duration_s: float, say: Say,
               nodes: int = 2) -> StressResult:
    """One run of `duration_s` on a fresh cell of `nodes` nodes."""
    result = StressResult(profile.name, scenario, duration_s, nodes=nodes)
    with built_lab(f"st{profile.name[0]}", campaign_cell("stress", nodes, profile),
                   say=say) as lab:
        cell = Cell(lab)
        cell.wait_whole(60 + 10 * nodes)
        status = cell.status("node1")
        if status is None:
            raise BenchError("node1 does not answer")
        before = {r.name: r.owner for r in status.services}
        t0 = time.time()
        busy = _cpu_ticks()
        hog = cpu_hog(duration_s) if scenario in ("cpu", "both") else None
        try:
            with SplitBrainWatch(lab.record.name, interval_s=0.1) as watch:
                if scenario in ("loss", "both"):
                    result.loss_how = lab.faults.netem(LOSS_NODE, LOSS_RING, loss_pct=LOSS_PCT)
                    cell.lossy.add((LOSS_NODE, LOSS_RING))
                _wait_out(duration_s, hog, say, f"{profile.name}/{scenario}",
                          neighbours=result.neighbours, own=lab.record.name)
                result.cpu_busy_pct = _busy_pct(busy, _cpu_ticks())
                result.max_heartbeat_lag_ms, result.p99_heartbeat_lag_ms = _lags(cell)
            result.split_brain = watch.problems()  # a blind watch counts as one
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()
            cell.restore()
        time.sleep(SETTLE_S)
        _count(cell, t0, t0 + duration_s, before, result)
    return result


def _wait_out(duration_s: float, hog: subprocess.Popen[bytes] | None, say: Say,
              label: str, *, neighbours: list[str], own: str) -> None:
    """Sleep through the run, watching stress-ng and noting other labs (other runs
    sharing the machine share its CPU)."""
    end = time.monotonic() + duration_s
    next_note = time.monotonic() + 60
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(TICK_S, left))
        neighbours += [n for n in existing_labs() if n != own and n not in neighbours]
        if hog is not None and hog.poll() is not None and end - time.monotonic() > 5:
            raise BenchError(f"{PACKAGE} stopped early (exit {hog.returncode})")
        if time.monotonic() >= next_note:
            say(f"{label}: {max(0.0, end - time.monotonic()) / 60:.1f} min to go")
            next_note += 60


def _cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine so far."""
    with open("/proc/stat", encoding="ascii") as handle:
        values = [int(x) for x in handle.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def _busy_pct(before: tuple[int, int], after: tuple[int, int]) -> float:
    total = after[1] - before[1]
    return 100.0 * (after[0] - before[0]) / total if total else 0.0


def _lags(cell: Cell) -> tuple[float, float]:
    """(worst lateness of any heartbeat, the highest p99 of any node), in ms."""
    beats = [s.heartbeat for s in cell.statuses(cell.nodes).values() if s and s.heartbeat]
    return (max((b.max_lag_ms for b in beats), default=0.0),
            max((b.p99_lag_ms for b in beats), default=0.0))


def _count(cell: Cell, start: float, end: float, before: dict[str, str | None],
           result: StressResult) -> None:
    for node in cell.nodes:
        for event in node_events(cell.lab, node):
            if not start * 1000 <= event["ts_ms"] <= (end + SETTLE_S) * 1000:
                continue
            kind, detail = event["kind"], event.get("detail", "")
            counted = _classify(kind, detail, event, before, result)
            if counted and len(result.samples) < 20:
                result.samples.append(f"{node}: {kind} {event.get('node') or ''} "
                                      f"{event.get('service') or ''} {detail}")


def _classify(kind: str, detail: str, event: dict[str, Any], before: dict[str, str | None],
              result: StressResult) -> bool:
    """Count one event; True if it is a sign of a spurious reaction."""
    if kind == EventKind.SERVICE_STARTED:
        if event.get("node") == before.get(event.get("service") or ""):
            result.restarts += 1
        else:
            result.takeovers += 1
    elif kind == EventKind.FENCE_START:
        result.fences += 1
    elif kind == EventKind.NODE and "-> lost" in detail:
        result.node_losses += 1
    elif kind == EventKind.QUORUM and not event.get("data", {}).get("quorate", True):
        result.quorum_losses += 1
    elif kind == EventKind.MONITOR_FAILED:
        result.monitor_failures += 1
    elif kind == EventKind.PAUSED:
        result.stalls += 1
        return False  # the daemon protects its judgement over its own stall: not a failover
    elif kind == EventKind.RING and detail.endswith("down"):
        result.ring_down += 1
        return False  # a lossy ring may be declared down: expected, not a failover
    else:
        return False
    return True
