#!/usr/bin/env python3
"""bench/relocate.py: client-visible outage of a planned relocation of the web service
(shared ext4 mount + virtual IP + web server) to the other node, and back, for tandem
and the peers' equivalents in the same lab topology, in one run:

- tandem: `tandem svc relocate web --node OTHER`;
- Pacemaker: `crm_resource --move --resource web --node OTHER` (then `--clear`);
- keepalived: stop it on the master (it sends a priority-0 advertisement and the backup
  takes the address at once), then start it again there (it comes back as backup).

    python3 bench/relocate.py --runs 10 [--only tandem pacemaker]

Runs alternate direction (there, back, there, ...). Results go to
bench/results/relocate.{json,md,png} (relocate-partial.* for a subset).
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

TARGETS = {"tandem-default": 500.0, "tandem-fast": 500.0}
INTRO = ("## Planned relocation of the web service (and back)\n\n"
         "Client-visible gap: the longest time the client (a request to the virtual IP "
         "every 10 ms) went without an answer around the move. keepalived moves only the "
         "address (the server runs on both nodes, each with its own copy of the page), so "
         "its figure is not for the same work.\n\n")


def measure(args: argparse.Namespace) -> int:
    chosen = select(args.only)
    results: compare.Results = []
    for variant in chosen:
        with started(variant, say) as stack:
            results.append((variant, repeat(stack, "relocation", args.runs, say)))
    found = compare.entries(results, TARGETS, args.runs)
    markdown = (INTRO + compare.table(found, "gap") + "\n"
                + compare.targets_text(found, ""))
    print(markdown)
    data: dict[str, Any] = {"benchmark": "relocate", "runs_per_variant": args.runs,
                            "environment": report.environment(), "variants": found}
    name = "relocate" if len(chosen) == len(VARIANTS) else "relocate-partial"
    compare.save(name, data, markdown, results, title="Planned relocation (lab probe)",
                 lines=[("tandem target: 0.5 s", 500.0)], say=say,
                 what="longest client-visible gap")
    return 1 if compare.any_failed(results) else 0


def main(argv: list[str] | None = None) -> int:
    p = parser("bench/relocate.py", "Planned relocation, tandem beside its peers.",
               install=True, stacks=True)
    p.add_argument("--runs", type=int, default=10,
                   help="relocations per stack, alternating direction (default 10)")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    return run(args, measure, install=ensure_packages)


if __name__ == "__main__":
    sys.exit(main())
