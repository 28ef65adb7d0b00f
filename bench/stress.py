#!/usr/bin/env python3
"""bench/stress.py: spurious failovers of a healthy cell under stress.

    python3 bench/stress.py [--duration 600] [--profiles fast default]
                            [--scenarios cpu loss] [--no-install]

A 2-node lab cell (record service on shared ext4 + virtual IP, and a dummy service) is
left alone for --duration seconds per profile and scenario: `cpu` (stress-ng keeps both
cores busy), `loss` (20% packet loss on the admin ring, both directions), or `both` at
once. Nothing is broken, so every takeover or fence is spurious; node losses, monitor
failures and ring flaps are counted beside them. Installs stress-ng (Debian) if
missing. Writes bench/results/stress.{json,md} (unless --no-save).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

from benchlib.cli import parser, precompile, run, say
from benchlib.profiles import PROFILES
from benchlib.report import table, write_results
from chaos.stress_run import (
    LOSS_NODE,
    LOSS_PCT,
    LOSS_RING,
    SCENARIOS,
    StressResult,
    ensure_stress_ng,
    stress_one,
)

HEADER = ["profile", "scenario", "nodes", "minutes", "machine CPU busy (%)", "spurious failovers",
          "takeovers", "fences", "node losses", "quorum losses", "restarts in place",
          "monitor failures", "ring down", "loop stalls", "heartbeat lag p99 (ms)",
          "heartbeat lag worst (ms)", "split brain"]


def markdown(results: list[StressResult]) -> str:
    rows = [[r.profile, r.scenario, r.nodes, f"{r.duration_s / 60:.1f}",
             f"{r.cpu_busy_pct:.0f}",
             r.spurious_failovers, r.takeovers, r.fences, r.node_losses, r.quorum_losses,
             r.restarts, r.monitor_failures, r.ring_down, r.stalls,
             f"{r.p99_heartbeat_lag_ms:.1f}", f"{r.max_heartbeat_lag_ms:.1f}",
             len(r.split_brain)] for r in results]
    how = sorted({r.loss_how for r in results if r.loss_how})
    text = ("## Stress: spurious failovers of a healthy cell\n\n"
            f"`cpu`: stress-ng on every core; `loss`: {LOSS_PCT:g}% loss on the "
            f"{LOSS_RING} ring (ring 0) at {LOSS_NODE}'s link ("
            + (", ".join(how) or "-") + "; nftables drops both directions, tc netem "
            f"outgoing only; ring 1 clean); `both`: the two at once. Spurious failovers "
            f"= takeovers + fences (expected: none at the default profile). "
            f"{platform.node()}, {time.strftime('%Y-%m-%d %H:%M')}."
            "\n\n" + table(HEADER, rows))
    samples = [f"- {r.profile}/{r.scenario}: {s}" for r in results for s in r.samples]
    shared = [f"- {r.profile}/{r.scenario}: other labs on the machine during the run: "
              f"{', '.join(r.neighbours)}" for r in results if r.neighbours]
    if shared:
        text += "\nShared machine:\n\n" + "\n".join(shared) + "\n"
    return text + ("\nFirst spurious events:\n\n" + "\n".join(samples) + "\n"
                   if samples else "")


def measure(args: argparse.Namespace) -> int:
    if not args.no_install and any(s in ("cpu", "both") for s in args.scenarios):
        ensure_stress_ng(say)
    precompile()
    results = []
    for profile in args.profiles:
        for scenario in args.scenarios:
            say(f"{profile}/{scenario}: {args.duration:g} s")
            result = stress_one(PROFILES[profile], scenario, args.duration, say,
                                nodes=args.nodes)
            say(f"{profile}/{scenario}: {result.spurious_failovers} spurious failover(s)")
            results.append(result)
    text = markdown(results)
    print(text)
    if not args.no_save:
        data = {"benchmark": "stress", "results": [r.to_json() for r in results]}
        for path in write_results(args.save_as, data, text):
            say(f"wrote {path}")
    default = [r for r in results if r.profile == "default"]
    return 1 if any(r.spurious_failovers or r.split_brain for r in default) else 0


def main(argv: list[str] | None = None) -> int:
    p = parser("bench/stress.py", "Spurious failovers of a healthy cell under stress.",
               install=True)
    p.add_argument("--duration", type=float, default=600.0,
                   help="seconds per profile and scenario (default 600)")
    p.add_argument("--profiles", nargs="+", choices=sorted(PROFILES),
                   default=["fast", "default"])
    p.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=["cpu", "loss"])
    p.add_argument("--nodes", type=int, default=2,
                   help="nodes in the cell, 2 to 16 (default 2); with more than 2 the loss "
                        "scenario makes one node's ring lossy, not the whole ring")
    p.add_argument("--no-save", action="store_true")
    p.add_argument("--save-as", default="stress")
    args = p.parse_args(argv)
    if args.duration <= 0:
        p.error("--duration must be positive")
    if not 2 <= args.nodes <= 16:
        p.error("--nodes must be 2 to 16")
    return run(args, measure)


if __name__ == "__main__":
    sys.exit(main())
