"""The scale benchmark for one cell size: N nodes running S cheap (`dummy`) services.

Measured, in order: the cold start (every daemon started at once, until every service
is started, from the daemons' timelines), the daemons' CPU and memory at rest (with
the heartbeat path's own figures: scheduling lag, datagrams dropped), the latency of
`tandem status --json` (the whole command, and the daemon's answer alone), and the
loss of a node: detection, the coordinator's decisions (to fence, then to move the
services) from its timeline, and the moment the last moved service started.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchlib.errors import BenchError
from benchlib.labs import built_lab, lab_name
from benchlib.usage import measure_cpu
from chaos.cell import Cell, Status
from chaos.cells import Profile, scale_cell
from chaos.timeline import node_events
from tandem.common.events import EventKind
from tandem.lab.names import LabNames, existing_labs
from tandem.lab.query import tandem_argv

Say = Callable[[str], None]
START_TIMEOUT_S = 600.0
MOVE_TIMEOUT_S = 300.0
POLL_S = 1.0
# Times one status request on the control socket, inside a node: the daemon's share of
# `tandem status` (the CLI's own start-up is most of the rest).
RAW_STATUS = """
import socket, sys, time
started = time.monotonic()
with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
    sock.connect("/run/tandem/tandemd.sock")
    sock.sendall(b'{"cmd": "status"}\\n')
    data = b""
    while not data.endswith(b"\\n"):
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        data += chunk
print(round((time.monotonic() - started) * 1000, 2), len(data))
"""


@dataclass
class SizeResult:
    """Figures for one cell size (seconds unless the name says ms)."""

    nodes: int
    services: int
    build_s: float = 0.0
    quorate_s: float | None = None
    cold_start_s: float | None = None
    cpu_pct_per_daemon: float | None = None
    cpu_pct_total: float | None = None
    rss_mb_per_daemon: float | None = None
    status_ms_median: float | None = None
    status_ms_max: float | None = None
    status_daemon_ms_median: float | None = None
    status_daemon_ms_max: float | None = None
    status_bytes: int = 0
    heartbeat_lag_ms_max: float | None = None  # worst sending lag of any daemon so far
    datagrams_dropped: int = 0  # every daemon's transport drop and backlog counters
    moved: int = 0
    detect_s: float | None = None
    decide_fence_ms: float | None = None
    fencing_ms: float | None = None
    decide_move_ms: float | None = None
    moved_started_s: float | None = None
    notes: list[str] = field(default_factory=list)
    failed: str = ""
    spurious_losses: int = 0  # node losses before the deliberate one
    spurious_fences: int = 0
    spurious: list[str] = field(default_factory=list)  # what those were, briefly
    stalls: list[float] = field(default_factory=list)  # daemons' "paused" events (s)
    load_avg: float | None = None  # the machine's 5-minute load average at the end

    def to_json(self) -> dict[str, Any]:
        return {k: (round(v, 3) if isinstance(v, float) else v)
                for k, v in self.__dict__.items()}


def _all_started(status: Status | None, services: int, avoid: str | None = None) -> bool:
    if status is None:
        return False
    rows = status.services
    return len(rows) == services and all(
        r.state == "started" and r.owner and r.owner != avoid for r in rows)


def _wait(cell: Cell, services: int, timeout: float, what: str, *,
          avoid: str | None = None, observer: str = "node1") -> Status:
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = cell.status(observer)
        if status is not None and _all_started(status, services, avoid):
            return status
        time.sleep(POLL_S)
    started = sum(1 for r in status.services if r.state == "started") if status else 0
    raise BenchError(f"{what}: only {started} of {services} services started after "
                     f"{timeout:g} s")


def measure_size(nodes: int, services: int, profile: Profile, *, cpu_s: float,
                 status_runs: int, say: Say, cheap_checks: bool = False) -> SizeResult:
    """Build the cell, measure it, remove it. With `cheap_checks`, fence devices are
    checked by reading the lab's power records (fencing itself still goes through the
    BMCs with ipmitool)."""
    result = SizeResult(nodes, services)
    tag = f"s{nodes}"
    power_dir = LabNames(lab_name(tag)).directory / "nodes" if cheap_checks else None
    text = scale_cell("scale", nodes, services, profile, power_dir=power_dir)
    built = time.monotonic()
    with built_lab(tag, text, say=say, start=False) as lab:
        result.build_s = time.monotonic() - built
        cell = Cell(lab)
        say(f"{nodes} nodes: starting {nodes} daemons at once")
        t0 = time.time()
        for node in lab.nodes:
            lab.control.start_daemon(node)
        try:
            _wait(cell, services, START_TIMEOUT_S, "cold start")
            _cold_start(cell, t0, result)
            say(f"{nodes} nodes: cold start {result.cold_start_s:.1f} s; CPU at rest over "
                f"{cpu_s:g} s")
            time.sleep(min(5.0, cpu_s))  # let the start-up work drain
            _cpu(cell, cpu_s, result)
            _heartbeat_path(cell, result)
            _status_latency(cell, status_runs, result)
            say(f"{nodes} nodes: status {result.status_ms_median:.0f} ms (daemon "
                f"{result.status_daemon_ms_median:.0f} ms); losing a node")
            _upsets(cell, t0, time.time(), result)
            _node_loss(cell, services, result)
        except BenchError as exc:
            result.failed = str(exc)
            say(f"{nodes} nodes: FAILED: {exc}")
        result.stalls = _stalls(cell, t0)
        _neighbours(lab.record.name, result)
    return result


def _neighbours(own: str, result: SizeResult) -> None:
    """Other labs on the machine and its load: this run's figures share the CPU."""
    others = [name for name in existing_labs() if name != own]
    load = os.getloadavg()
    result.load_avg = round(load[1], 2)
    if others:
        result.notes.append(f"other labs running meanwhile: {', '.join(others)} "
                            f"(load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f})")


def _upsets(cell: Cell, start: float, end: float, result: SizeResult) -> None:
    """Node losses and fences the daemons recorded while nothing was broken."""
    for node in cell.nodes:
        for event in node_events(cell.lab, node):
            if not start * 1000 <= event["ts_ms"] <= end * 1000:
                continue
            lost = event["kind"] == EventKind.NODE and "-> lost" in event.get("detail", "")
            fence = event["kind"] == EventKind.FENCE_START
            result.spurious_losses += lost
            result.spurious_fences += fence
            if (lost or fence) and len(result.spurious) < 10:
                result.spurious.append(f"{event['ts_ms'] / 1000 - start:.1f} s after the "
                                       f"start, {node}: {event['kind']} {event.get('node')} "
                                       f"{event.get('detail', '')}")


def _stalls(cell: Cell, t0: float) -> list[float]:
    """Longest event-loop stalls the daemons reported ("paused" events), in seconds."""
    found = []
    for node in cell.nodes:
        for event in node_events(cell.lab, node):
            if event["kind"] == EventKind.PAUSED and event["ts_ms"] >= t0 * 1000:
                words = event.get("detail", "").split()
                if len(words) >= 4 and words[3].isdigit():
                    found.append(int(words[3]) / 1000)
    return sorted(found, reverse=True)


def _cold_start(cell: Cell, t0: float, result: SizeResult) -> None:
    started, quorate = [], []
    for node in cell.nodes:
        events = [e for e in node_events(cell.lab, node) if e["ts_ms"] >= t0 * 1000]
        started += [e["ts_ms"] for e in events if e["kind"] == EventKind.SERVICE_STARTED]
        quorate += [e["ts_ms"] for e in events if e["kind"] == EventKind.QUORUM
                    and e.get("data", {}).get("quorate")][:1]
    if started:
        result.cold_start_s = max(started) / 1000 - t0
    if len(quorate) == len(cell.nodes):
        result.quorate_s = max(quorate) / 1000 - t0


def _cpu(cell: Cell, seconds: float, result: SizeResult) -> None:
    pids = [cell.power(n).daemon_pid for n in cell.nodes]
    usage = measure_cpu([p for p in pids if p], seconds)
    if not usage.cpu_s:
        result.notes.append("no daemon found for the CPU figure")
        return
    shares = [usage.percent(p) for p in usage.cpu_s]
    result.cpu_pct_per_daemon = statistics.mean(shares)
    result.cpu_pct_total = sum(shares)
    result.rss_mb_per_daemon = statistics.mean(usage.rss_bytes.values()) / 2**20


def _heartbeat_path(cell: Cell, result: SizeResult) -> None:
    """Worst heartbeat sending lag and datagrams dropped, over every daemon's life."""
    lags, dropped = [], 0
    for status in cell.statuses(cell.nodes).values():
        if not status:
            continue
        lags.append(status.heartbeat.max_lag_ms if status.heartbeat else 0.0)
        for counters in status.transport.values():
            dropped += sum(int(v) for k, v in counters.items()
                           if k.startswith("drop_") or k in ("tx_backlog", "socket_error"))
    result.heartbeat_lag_ms_max = max(lags, default=None)
    result.datagrams_dropped = dropped


def _status_latency(cell: Cell, runs: int, result: SizeResult) -> None:
    """Wall time of `tandem status --json` inside a node (the CLI's start included),
    and of the status request alone on the control socket."""
    times, raw = [], []
    argv = cell.lab.control.exec_argv("node1", tandem_argv("status", "--json"))
    probe = cell.lab.control.exec_argv("node1", [sys.executable, "-S", "-c", RAW_STATUS])
    for _ in range(runs):
        started = time.monotonic()
        done = subprocess.run(argv, capture_output=True, timeout=60, check=False)
        times.append((time.monotonic() - started) * 1000)
        if done.returncode != 0:
            result.notes.append(f"status failed: {done.stderr.decode()[-200:]}")
        result.status_bytes = len(done.stdout)
        answer = subprocess.run(probe, capture_output=True, text=True, timeout=60,
                                check=False)
        if answer.returncode == 0 and answer.stdout.split():
            raw.append(float(answer.stdout.split()[0]))
    result.status_ms_median = statistics.median(times)
    result.status_ms_max = max(times)
    if raw:
        result.status_daemon_ms_median = statistics.median(raw)
        result.status_daemon_ms_max = max(raw)


def _node_loss(cell: Cell, services: int, result: SizeResult) -> None:
    """Crash the last node that runs services (never node1: the coordinator and the
    race winner) and read how the coordinator handled it."""
    before = cell.status("node1")
    if before is None:
        raise BenchError("node1 does not answer before the node loss")
    offline = [r.name for r in before.nodes if r.state != "online"]
    if offline:
        result.notes.append(f"not online before the node loss: {', '.join(offline)}")
    owners = [r.owner for r in before.services]
    victim = next((n for n in reversed(cell.nodes[1:]) if n in owners), None)
    if victim is None:
        raise BenchError("no node but node1 runs a service")
    owned = {r.name for r in before.services if r.owner == victim}
    result.moved = len(owned)
    coordinator = before.coordinator or "node1"
    t_crash = time.time()
    cell.lab.control.crash(victim)
    _wait(cell, services, MOVE_TIMEOUT_S, "after the node loss", avoid=victim)
    events = [e for e in node_events(cell.lab, coordinator) if e["ts_ms"] >= t_crash * 1000]
    lost = _first(events, lambda e: e["kind"] == EventKind.NODE and e["node"] == victim
                  and "-> lost" in e["detail"])
    fence = _first(events, lambda e: e["kind"] == EventKind.FENCE_START and e["node"] == victim)
    fenced = _first(events, lambda e: e["kind"] == EventKind.FENCE_DONE and e["node"] == victim)
    moving = _first(events, lambda e: e["kind"] == EventKind.SERVICE and e.get("service") in owned
                    and "starting on" in e["detail"])
    starts = [e["ts_ms"] for n in cell.nodes[:-1] for e in node_events(cell.lab, n)
              if e["ts_ms"] >= t_crash * 1000 and e["kind"] == EventKind.SERVICE_STARTED
              and e.get("service") in owned]
    result.detect_s = None if lost is None else lost / 1000 - t_crash
    result.decide_fence_ms = _diff(fence, lost)
    result.fencing_ms = _diff(fenced, fence)
    result.decide_move_ms = _diff(moving, fenced)
    result.moved_started_s = max(starts) / 1000 - t_crash if starts else None
    if len(starts) < len(owned):
        result.notes.append(f"{len(starts)} of {len(owned)} moved services have a start "
                            f"event")


def _first(events: list[dict[str, Any]], pred: Callable[[dict[str, Any]], bool],
           ) -> int | None:
    return next((int(e["ts_ms"]) for e in events if pred(e)), None)


def _diff(later: int | None, earlier: int | None) -> float | None:
    return None if later is None or earlier is None else float(later - earlier)
