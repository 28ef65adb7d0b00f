#!/usr/bin/env python3
"""bench/footprint.py: CPU (as % of one core) and resident memory of each stack's idle
daemon, all measured over the same window in one run: tandemd at the default and fast
profiles, corosync + the Pacemaker daemons, and keepalived.

    python3 bench/footprint.py [--seconds 60] [--only tandem keepalived]

Every stack is brought up in its own lab (same cell), its web service started, left to
settle, and then measured side by side over the same window. The figures are per node:
the active node (running the service) and the standby node. Results go to
bench/results/footprint.{json,md} (footprint-partial.* for a subset).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from typing import Any

from benchlib import report
from benchlib.cli import parser, run, say
from benchlib.install import ensure_packages
from benchlib.stacks.base import Stack
from benchlib.usage import Usage, name_of
from benchlib.variants import VARIANTS, Variant, select, started

TARGET_CPU_PCT = 1.0
TARGET_RSS_MB = 60.0
SAMPLE_EVERY_S = 1.0


def _node_usage(stack: Stack) -> dict[str, tuple[str, Usage]]:
    owner = stack.wait_ready()
    return {node: ("active" if node == owner else "standby",
                   Usage(stack.daemon_pids(node))) for node in stack.lab.nodes}


Groups = list[tuple[Variant, dict[str, tuple[str, Usage]]]]


def sample_all(stacks: list[tuple[Variant, Stack]], seconds: float) -> tuple[Groups, float]:
    """Measure every stack over the same window (bounded: one sample a second)."""
    groups = [(v, _node_usage(s)) for v, s in stacks]
    usages = [u for _, nodes in groups for _, u in nodes.values()]
    for usage in usages:
        usage.begin()
    started_at = time.monotonic()
    for _ in range(int(seconds / SAMPLE_EVERY_S) + 1):
        for usage in usages:
            usage.sample()
        remaining = seconds - (time.monotonic() - started_at)
        if remaining <= 0:
            break
        time.sleep(min(SAMPLE_EVERY_S, remaining))
    for usage in usages:
        usage.finish()
    return groups, time.monotonic() - started_at


def measure(args: argparse.Namespace) -> int:
    chosen = select(args.only)
    with contextlib.ExitStack() as stack_of_labs:
        stacks = [(v, stack_of_labs.enter_context(started(v, say))) for v in chosen]
        say(f"all {len(stacks)} stacks up; letting them settle for {args.settle:g} s")
        time.sleep(args.settle)
        say(f"measuring for {args.seconds:g} s")
        groups, elapsed = sample_all(stacks, args.seconds)
    found = [_entry(v, nodes, elapsed) for v, nodes in groups]
    markdown = render(found, elapsed)
    print(markdown)
    data = {"benchmark": "footprint", "seconds": round(elapsed, 1),
            "environment": report.environment(), "variants": found}
    name = "footprint" if len(chosen) == len(VARIANTS) else "footprint-partial"
    for path in report.write_results(name, data, markdown):
        say(f"wrote {path}")
    return 0 if all(not n["lost_pids"] for e in found for n in e["nodes"]) else 1


def _entry(variant: Variant, nodes: dict[str, tuple[str, Usage]],
           elapsed: float) -> dict[str, Any]:
    rows = []
    for node, (role, usage) in nodes.items():
        rows.append({"node": node, "role": role,
                     "processes": sorted(name_of(p) for p in usage.pids),
                     "cpu_pct_of_one_core": round(usage.cpu_percent(elapsed), 3),
                     "rss_mb": round(usage.rss_mb(), 1),
                     "max_rss_mb": round(usage.max_rss_mb(), 1),
                     "pss_mb": round(usage.pss_kb / 1024, 1), "lost_pids": usage.lost})
    rows.sort(key=lambda r: str(r["role"]))
    return {"key": variant.key, "family": variant.family, "setting": variant.setting,
            "nodes": rows}


def render(found: list[dict[str, Any]], elapsed: float) -> str:
    header = ["stack", "setting", "node", "daemon processes", "CPU (% of one core)",
              "RSS (MB)", "PSS (MB)"]
    rows = []
    for e in found:
        for n in e["nodes"]:
            rows.append([e["family"], e["setting"], n["role"], str(len(n["processes"])),
                         f"{n['cpu_pct_of_one_core']:.2f}", f"{n['rss_mb']:.1f}",
                         f"{n['pss_mb']:.1f}"])
    lines = [f"- {e['key']} ({n['role']}): {n['cpu_pct_of_one_core']:.2f} % of a core, "
             f"{n['rss_mb']:.1f} MB RSS; target <= {TARGET_CPU_PCT:g} %, "
             f"<= {TARGET_RSS_MB:g} MB"
             for e in found if e["family"] == "tandem" for n in e["nodes"]]
    return ("## Idle footprint of the daemons\n\n"
            f"Each stack idle in its own lab with its web service running, all measured "
            f"over the same {elapsed:.0f} s window. CPU includes work the daemon forked "
            f"and reaped (monitors, ipmitool); RSS is summed over the daemon's processes, "
            f"PSS splits shared pages between their users.\n\n"
            + report.table(header, rows) + "\n"
            + ("Targets (shown, not asserted):\n\n" + "\n".join(lines) + "\n" if lines else ""))


def main(argv: list[str] | None = None) -> int:
    p = parser("bench/footprint.py", "Idle CPU and memory, tandem beside its peers.",
               install=True, stacks=True)
    p.add_argument("--seconds", type=float, default=60.0,
                   help="measuring window (default 60 s)")
    p.add_argument("--settle", type=float, default=15.0,
                   help="idle time before measuring (default 15 s)")
    args = p.parse_args(argv)
    if args.seconds <= 0 or args.settle < 0:
        p.error("--seconds must be > 0 and --settle >= 0")
    return run(args, measure, install=ensure_packages)


if __name__ == "__main__":
    sys.exit(main())
