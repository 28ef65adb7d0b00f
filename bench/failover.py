#!/usr/bin/env python3
"""bench/failover.py: client-visible outage when the active node loses power, for tandem
(default, fast and turbo profiles), Pacemaker + Corosync (Debian's default token, 500 ms
and 300 ms)
and keepalived (default and fastest advertisement), in the same lab topology, in one run.

    python3 bench/failover.py --runs 10 [--only tandem pacemaker-token500]

Every stack runs in a lab built from examples/demo-cell.toml (two nodes, admin and
backbone networks, virtual BMCs, a shared ext4 disk, a client namespace probing the
virtual IP every 10 ms). Progress goes to stderr, figures to stdout, and the results to
bench/results/failover.{json,md,png} (failover-partial.* for a subset).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from benchlib import compare, report
from benchlib.cli import parser, run, say
from benchlib.install import ensure_packages
from benchlib.measure import repeat
from benchlib.variants import VARIANTS, select, started

TARGETS = {"tandem-default": 1200.0, "tandem-fast": 450.0, "tandem-turbo": 250.0}
INTRO = ("## Failover: the active node loses power\n\n"
         "Client-visible outage: a client in its own namespace starts an HTTP request to "
         "the virtual IP every 10 ms (the lab's probe, as in `tandem demo`); the outage "
         "runs from the power cut to the first answer after the client noticed it. "
         "\"Owner fenced\": the survivor had the crashed node powered off through its BMC "
         "before taking over; \"healthy node fenced\" counts power-offs of the survivor "
         "(must be 0).\n\n")


def measure(args: argparse.Namespace) -> int:
    chosen = select(args.only)
    results: compare.Results = []
    for variant in chosen:
        with started(variant, say) as stack:
            results.append((variant, repeat(stack, "failover", args.runs, say)))
    found = compare.entries(results, TARGETS, args.runs)
    markdown = (INTRO + compare.table(found, "outage") + "\n" + breakdown_text(found)
                + compare.targets_text(found, " (with no healthy node ever fenced)"))
    print(markdown)
    data: dict[str, Any] = {"benchmark": "failover", "runs_per_variant": args.runs,
                            "environment": report.environment(), "variants": found}
    name = "failover" if len(chosen) == len(VARIANTS) else "failover-partial"
    compare.save(name, data, markdown, results,
                 title="Failover after power loss of the active node (lab probe)",
                 lines=[("tandem target, default: 1.2 s", 1200.0),
                        ("tandem target, fast: 0.45 s", 450.0),
                        ("tandem target, turbo: 0.25 s", 250.0)], say=say)
    return 1 if compare.any_failed(results) else 0


def breakdown_text(found: list[dict[str, Any]]) -> str:
    """tandem's own account of its failovers: median of each step."""
    rows = [[e["setting"], *(report.seconds(e["breakdown_median_ms"][k])
                             for k, _ in report.BREAKDOWN_STEPS)]
            for e in found if "breakdown_median_ms" in e]
    if not rows:
        return ""
    header = ["tandem profile", *(f"{label} (s)" for _, label in report.BREAKDOWN_STEPS)]
    return ("tandem's breakdown (medians, from the survivor's event timeline; detection, "
            "first ARP and service start are counted from the power cut):\n\n"
            + report.table(header, rows) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = parser("bench/failover.py", "Failover after power loss, tandem beside its peers.",
               install=True, stacks=True)
    p.add_argument("--runs", type=int, default=10, help="failovers per stack (default 10)")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    return run(args, measure, install=ensure_packages)


if __name__ == "__main__":
    sys.exit(main())
