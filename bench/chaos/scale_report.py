"""The scale benchmark's report: one column per cell size (median and range over its
runs), and how each median grows relative to the smallest cell."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from typing import Any

from benchlib.report import fixed, median, table
from chaos.cells import Profile
from chaos.scale_run import SizeResult

Column = tuple[str, Callable[[SizeResult], float | None], int]
COLUMNS: list[Column] = [
    ("cold start (s)", lambda r: r.cold_start_s, 2),
    ("all quorate (s)", lambda r: r.quorate_s, 2),
    ("CPU at rest per daemon (% core)", lambda r: r.cpu_pct_per_daemon, 2),
    ("CPU at rest, whole cell (% core)", lambda r: r.cpu_pct_total, 1),
    ("RSS per daemon (MiB)", lambda r: r.rss_mb_per_daemon, 1),
    ("status --json, whole command, median (ms)", lambda r: r.status_ms_median, 0),
    ("status --json, whole command, max (ms)", lambda r: r.status_ms_max, 0),
    ("status request, daemon's answer, median (ms)", lambda r: r.status_daemon_ms_median, 1),
    ("status request, daemon's answer, max (ms)", lambda r: r.status_daemon_ms_max, 1),
    ("heartbeat sending lag, worst daemon (ms)", lambda r: r.heartbeat_lag_ms_max, 0),
    ("loss detected (s)", lambda r: r.detect_s, 2),
    ("lost -> fence decided (ms)", lambda r: r.decide_fence_ms, 0),
    ("fencing (ms)", lambda r: r.fencing_ms, 0),
    ("fenced -> move decided (ms)", lambda r: r.decide_move_ms, 0),
    ("crash -> last moved service started (s)", lambda r: r.moved_started_s, 2),
]


def by_size(results: list[SizeResult]) -> dict[int, list[SizeResult]]:
    """Runs grouped by cell size, smallest first."""
    groups: dict[int, list[SizeResult]] = {}
    for result in results:
        groups.setdefault(result.nodes, []).append(result)
    return dict(sorted(groups.items()))


def _values(runs: list[SizeResult], get: Callable[[SizeResult], float | None]) -> list[float]:
    return [v for r in runs if not r.failed and (v := get(r)) is not None]


def _cell(runs: list[SizeResult], get: Callable[[SizeResult], float | None],
          digits: int) -> str:
    """Median, and the range when there are several runs."""
    values = _values(runs, get)
    if not values:
        return "-"
    middle = fixed(median(values), digits)
    if len(values) == 1:
        return middle
    return f"{middle} ({fixed(min(values), digits)}-{fixed(max(values), digits)})"


def _growth(value: float | None, base: float | None) -> str:
    if value is None or base is None or base <= 0:
        return "-"
    return f"x{value / base:.1f}"


def _counts(runs: list[SizeResult], get: Callable[[SizeResult], int]) -> str:
    return "+".join(str(get(r)) for r in runs)


def markdown(results: list[SizeResult], profile: Profile, cpu_s: float,
             cheap_checks: bool = False) -> str:
    groups = by_size(results)
    services = results[0].services if results else 0
    runs = max((len(g) for g in groups.values()), default=0)
    head = (f"## Scale: 2 to {max(groups, default=0)} nodes, {services} services\n\n"
            f"Profile {profile.name} (heartbeat {profile.heartbeat_ms} ms, token "
            f"{profile.token_ms} ms); `dummy` services spread evenly (service i prefers "
            f"node i mod N), monitored every 10 s; CPU at rest over {cpu_s:g} s; "
            f"{runs} run(s) per size: median (min-max); counts are per run. "
            f"{platform.node()}, {time.strftime('%Y-%m-%d %H:%M')}."
            + (" Fence devices: fence_labpower (fencing through the BMCs with ipmitool, "
               "device checks read the lab's power records)." if cheap_checks
               else " Fence devices: `ipmi` (every check opens an IPMI session).")
            + "\n\n")
    header = ["figure", *(f"{n} nodes" for n in groups)]
    rows = [[name, *(_cell(g, get, digits) for g in groups.values())]
            for name, get, digits in COLUMNS]
    rows.append(["runs (failed)", *(f"{len(g)} ({sum(bool(r.failed) for r in g)})"
                                    for g in groups.values())])
    rows.append(["services moved by the loss", *(_counts(g, lambda r: r.moved)
                                                 for g in groups.values())])
    rows.append(["node losses / fences while nothing was broken",
                 *(" ".join(f"{r.spurious_losses}/{r.spurious_fences}" for r in g)
                   for g in groups.values())])
    rows.append(["datagrams dropped by the daemons (all causes)",
                 *(_counts(g, lambda r: r.datagrams_dropped) for g in groups.values())])
    rows.append(["event-loop stalls > token/2 (count, longest s)",
                 *(" ".join(f"{len(r.stalls)}, {max(r.stalls, default=0):.1f}" for r in g)
                   for g in groups.values())])
    rows.append(["machine load average (5 min), per run",
                 *(" ".join(fixed(r.load_avg, 1) for r in g) for g in groups.values())])
    rows.append(["lab build (s)", *(_cell(g, lambda r: r.build_s, 1)
                                    for g in groups.values())])
    first = next(iter(groups.values()), [])
    growth_header = ["growth of the median vs the smallest cell",
                     *(f"{n} nodes" for n in groups)]
    growth = [[name, *(_growth(median(_values(g, get)), median(_values(first, get)))
                       for g in groups.values())]
              for name, get, _ in COLUMNS]
    notes = [f"- {r.nodes} nodes: {n}" for r in results for n in r.notes]
    notes += [f"- {r.nodes} nodes: spurious: {n}" for r in results for n in r.spurious]
    notes += [f"- {r.nodes} nodes: FAILED: {r.failed}" for r in results if r.failed]
    return (head + table(header, rows) + "\n" + table(growth_header, growth)
            + ("\nNotes:\n\n" + "\n".join(notes) + "\n" if notes else ""))


def to_json(results: list[SizeResult], profile: Profile, cpu_s: float) -> dict[str, Any]:
    return {"benchmark": "scale", "profile": profile.name, "cpu_window_s": cpu_s,
            "runs": [r.to_json() for r in results]}
