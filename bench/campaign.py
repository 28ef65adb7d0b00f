#!/usr/bin/env python3
"""bench/campaign.py: the reliability campaign (in the spirit of Pacemaker's CTS).

    python3 bench/campaign.py --faults 20 --seed 1 [--sizes 2 3] [--profile default]
    python3 bench/campaign.py --faults 0 --nfs 40 --seed 1 --save-as campaign-nfs-seed1

A seeded random sequence of faults on a 2-node and a 3-node lab cell, then a 2-node
cell with a quorum disk (crash, hang, reboot through the BMC, heartbeat cables, BMC
cable, packet loss, service kill, failing stop, planned relocation, quorum disk path
removed), with the split-brain watch, an independent check of who
holds each service, and a client writing numbered records through the service and
reading them back after every fault. With --nfs N, then N faults on a 2-node cell whose
only service is HA_NFS (crash, hang, power cycle, relocation, Ganesha killed, its
address or its mount point lost), with an NFSv3 client writing through one file
handle; --faults 0 leaves the other cells out. Prints a summary on stdout and writes
bench/results/campaign.{json,md} (unless --no-save); exits 1 on any violation, healthy
node fenced or daemon that died.
"""

from __future__ import annotations

import argparse
import json
import sys

from benchlib.cli import parser, run, say
from benchlib.profiles import PROFILES
from benchlib.report import write_results
from chaos import summary
from chaos.campaign import Options, run_campaign


def measure(args: argparse.Namespace) -> int:
    opts = Options(faults=args.faults, seed=args.seed, sizes=tuple(args.sizes),
                   qdisk=not args.no_qdisk, nfs_faults=args.nfs,
                   profile=PROFILES[args.profile], say=say)
    result = run_campaign(opts)
    text = summary.markdown(result)
    print(text)
    if not args.no_save:
        for path in write_results(args.save_as, summary.to_json(result), text):
            say(f"wrote {path}")
    if args.json:
        print(json.dumps(summary.to_json(result), indent=2))
    return 1 if result.failures() else 0


def main(argv: list[str] | None = None) -> int:
    p = parser("bench/campaign.py", "The reliability campaign (a seeded sequence of faults).")
    p.add_argument("--faults", type=int, default=20, help="faults to inject on the record "
                   "service's cells (default 20; 0 with --nfs: the NFS cell alone)")
    p.add_argument("--nfs", type=int, default=0, metavar="N", help="then N faults on a "
                   "2-node HA_NFS cell (default 0: no NFS cell)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--sizes", type=int, nargs="+", default=[2, 3], choices=range(2, 6),
                   metavar="N", help="cell sizes, faults shared between them (default 2 3)")
    p.add_argument("--no-qdisk", action="store_true",
                   help="no extra 2-node cell with a quorum disk (qdisk-loss not drawn)")
    p.add_argument("--profile", choices=sorted(PROFILES), default="default")
    p.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    p.add_argument("--save-as", default="campaign", help="results file name (default "
                                                           "campaign)")
    p.add_argument("--json", action="store_true", help="also print the JSON summary")
    args = p.parse_args(argv)
    if args.faults < 0 or args.nfs < 0 or args.faults + args.nfs < 1:
        p.error("--faults and --nfs may not be negative, and at least one fault is needed")
    if not PROFILES[args.profile].qdisk and not args.no_qdisk and args.faults:
        p.error(f"profile {args.profile} has no quorum disk setting: add --no-qdisk")
    return run(args, measure)


if __name__ == "__main__":
    sys.exit(main())
