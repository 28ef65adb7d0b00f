#!/usr/bin/env python3
"""bench/scale.py: how tandem grows from 2 to 16 nodes with 500 cheap services.

    python3 bench/scale.py [--sizes 2 4 8 16] [--runs 3] [--services 500]
                           [--cpu-seconds 30]

For each size, --runs times: a fresh lab cell of N nodes whose S `dummy` services are
spread evenly; every daemon started at once, then the time until every service is
started (cold start), the daemons' CPU and memory at rest, the latency of `tandem status
--json` in a node (and of the daemon's answer alone), and a node's loss (detection, the
coordinator's decisions from its timeline, the moved services started). Prints a table
(median and range per size) and the growth of each median; writes
bench/results/scale.{json,md} (unless --no-save). tandem's sources are byte-compiled
first, as in an installed package.
"""

from __future__ import annotations

import argparse
import sys

from benchlib.cli import parser, precompile, run, say
from benchlib.profiles import PROFILES
from benchlib.report import write_results
from chaos import scale_report
from chaos.cells import MAX_NODES
from chaos.scale_run import SizeResult, measure_size


def measure(args: argparse.Namespace) -> int:
    profile = PROFILES[args.profile]
    precompile()
    results: list[SizeResult] = []
    for nodes in args.sizes:
        for run_index in range(args.runs):
            results.append(measure_size(nodes, args.services, profile,
                                        cpu_s=args.cpu_seconds, status_runs=args.status_runs,
                                        say=say, cheap_checks=args.cheap_checks))
            say(f"{nodes} nodes, run {run_index + 1} of {args.runs} done")
    text = scale_report.markdown(results, profile, args.cpu_seconds, args.cheap_checks)
    print(text)
    if not args.no_save:
        data = scale_report.to_json(results, profile, args.cpu_seconds)
        data["cheap_checks"] = args.cheap_checks
        for path in write_results(args.save_as, data, text):
            say(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = parser("bench/scale.py", "How tandem grows from 2 to 16 nodes with 500 services.")
    p.add_argument("--sizes", type=int, nargs="+", default=[2, 4, 8, 16],
                   choices=range(2, MAX_NODES + 1), metavar="N")
    p.add_argument("--runs", type=int, default=1, help="runs per size (default 1)")
    p.add_argument("--services", type=int, default=500)
    p.add_argument("--cpu-seconds", type=float, default=30.0,
                   help="window for the CPU at rest (default 30)")
    p.add_argument("--status-runs", type=int, default=10)
    p.add_argument("--profile", choices=sorted(PROFILES), default="default")
    p.add_argument("--cheap-checks", action="store_true",
                   help="fence through the BMCs as usual, but let the daemons' periodic "
                        "fence-device checks read the lab's power records instead of "
                        "opening IPMI sessions (bench/chaos/fence_labpower)")
    p.add_argument("--no-save", action="store_true")
    p.add_argument("--save-as", default="scale")
    args = p.parse_args(argv)
    if min(args.services, args.status_runs, args.runs) < 1 or args.cpu_seconds <= 0:
        p.error("--services, --runs, --status-runs and --cpu-seconds must be positive")
    return run(args, measure)


if __name__ == "__main__":
    sys.exit(main())
