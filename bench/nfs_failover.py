#!/usr/bin/env python3
"""bench/nfs_failover.py: how long an NFS client's writes pause when the NFS service
fails over, with tandem (the generated HA_NFS service, default profile) and with
Pacemaker + Corosync (the same resources as one group, Debian's default token), in the
same lab, with the same client and the same faults.

    python3 bench/nfs_failover.py [--runs 5] [--only tandem pacemaker]
                                  [--faults crash kill relocate] [--note TEXT]

Each stack runs in a lab of its own, built from examples/demo-cell.toml with its web
service replaced by HA_NFS (benchlib.nfs_bench): the shared ext4 disk, the NFS ports
blocked, the address 198.51.100.70/24, NFS-Ganesha 4.3 with tandem's generated
ganesha.conf, the ports unblocked. For every run a libnfs client in the lab's client
namespace writes 250 numbered records through one file handle (each retried as on a
hard mount and committed), the fault hits the active node at its 50th record, and the
client goes on, then reads every record back. Faults: `crash` (power loss of the active
node), `kill` (kill -9 of ganesha.nfsd there), `relocate` (a planned move). Recorded
per run: the longest pause of one write, records lost, stale handles. The split-brain
watch (a disk mounted or the address held on two nodes) and the holder watch (a
ganesha.nfsd on two nodes) run for the whole life of each lab. Figures go to stdout,
progress to stderr, results to bench/results/nfs-failover.{json,md} (nfs-failover-partial.*
for a subset).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
from collections.abc import Iterator
from typing import Any, NoReturn

from benchlib import nfs_bench, report
from benchlib.cli import BenchParser, Say, parser, run, say
from benchlib.install import ensure_debian, ensure_packages
from benchlib.labs import built_lab
from benchlib.nfs_bench import FAULT_TEXT, FAULTS, NfsRun, NfsStack
from benchlib.profiles import DEFAULT
from benchlib.stacks.pacemaker import check_installed
from benchlib.stacks.pacemaker_nfs import PacemakerNfsStack
from benchlib.stacks.tandem_nfs import TandemNfsStack
from tandem.hpc.nfs.service import SERVICE
from tandem.lab.holders import HolderSpec
from tandem.lab.watch import HolderWatch, SplitBrainWatch

STACKS = {"tandem": f"default profile: {DEFAULT.describe()}",
          "pacemaker": "Corosync token 3000 ms (Debian's default, as pacemaker-default in "
                       "failover.py)"}
NFS_PACKAGES = ("nfs-ganesha", "nfs-ganesha-vfs", "rpcbind", "libnfs13", "iptables")
WATCH_S = 0.05


def install(say_: Say) -> list[str]:
    """The peers' packages, and what the NFS cell needs (iptables: ocf:heartbeat:portblock)."""
    return [*ensure_packages(say_, pip=False), *ensure_debian(NFS_PACKAGES, say_)]


@contextlib.contextmanager
def started(family: str) -> Iterator[NfsStack]:
    """The family's lab, built, its stack started and HA_NFS running."""
    peer = family == "pacemaker"
    with built_lab(f"nfs{family[:2]}", nfs_bench.cell_text(peer), start=not peer,
                   say=say) as lab:
        stack: NfsStack
        if peer:
            check_installed()
            stack = PacemakerNfsStack(lab, STACKS[family], say, None)
        else:
            for node in lab.nodes:
                (lab.node_root(node) / nfs_bench.MOUNT.lstrip("/")).mkdir(parents=True,
                                                                          exist_ok=True)
            stack = TandemNfsStack(lab, STACKS[family], say)
        say(f"{family}: starting")
        owner = stack.start()
        say(f"{family}: HA_NFS running on {owner}")
        yield stack


def measure_stack(family: str, faults: list[str], runs: int) -> dict[str, Any]:
    """Every run of every fault on one stack, the watches running throughout."""
    with started(family) as stack:
        name = stack.lab.record.name
        holders = [HolderSpec(SERVICE, process_mark=nfs_bench.SERVER_MARK)]
        with SplitBrainWatch(name, interval_s=WATCH_S) as split, \
                HolderWatch(name, holders, interval_s=WATCH_S) as held:
            done = {fault: [nfs_bench.one_run(stack, fault, i, say)
                            for i in range(1, runs + 1)] for fault in faults}
    return {"stack": family, "setting": STACKS[family],
            "faults": [summary(fault, found) for fault, found in done.items()],
            "watches": [split.summary(), held.summary()],
            "violations": [*split.problems(), *held.problems()]}


def summary(fault: str, runs: list[NfsRun]) -> dict[str, Any]:
    pauses = [r.longest_pause_s for r in runs if r.longest_pause_s is not None and r.ok]
    return {"fault": fault, "what": FAULT_TEXT[fault], "runs": len(runs),
            "ok": sum(r.ok for r in runs),
            "median_s": statistics.median(pauses) if pauses else None,
            "min_s": min(pauses) if pauses else None, "max_s": max(pauses) if pauses else None,
            "records_lost": sum(r.lost or 0 for r in runs),
            "stale_handles": sum(r.stale for r in runs),
            "errors": [r.error for r in runs if r.error],
            "per_run": [r.to_json() for r in runs]}


def markdown(found: list[dict[str, Any]], runs: int, note: str | None) -> str:
    rows = [[s["stack"], f["fault"], f"{f['ok']}/{f['runs']}", report.fixed(f["median_s"]),
             report.fixed(f["min_s"]), report.fixed(f["max_s"]), f["records_lost"],
             f["stale_handles"]] for s in found for f in s["faults"]]
    watch = "".join(f"- {s['stack']}: {'; '.join(s['watches'])}"
                    f"{'; VIOLATIONS: ' + ' | '.join(s['violations']) if s['violations'] else ''}\n"
                    for s in found)
    settings = "".join(f"- {s['stack']}: {s['setting']}\n" for s in found)
    failed = "".join(f"- {s['stack']} {f['fault']} run {i}: {r['from_node']} -> "
                     f"{r['to_node']}, longest pause {report.fixed(r['longest_pause_s'])} s: "
                     f"{r['error']}\n"
                     for s in found for f in s["faults"]
                     for i, r in enumerate(f["per_run"], start=1) if r["error"])
    return ("## NFS failover: the longest pause of an NFSv3 client's writes\n\n"
            f"{runs} run(s) per stack and fault. The client (libnfs, one file handle, "
            "each write retried as on a hard mount and committed) writes a 64-byte record "
            "every 20 ms; the fault hits the active node after 50 records; the figure is "
            "the longest time one write took to succeed (min/median/max over the runs "
            "that ended well). Records lost: acknowledged records that did not read back "
            "(must be 0); stale: stale file handle errors (must be 0).\n\n"
            + report.table(["stack", "fault", "ok", "median s", "min s", "max s",
                            "records lost", "stale handles"], rows)
            + "\nFaults: " + "; ".join(f"`{k}` = {v}" for k, v in FAULT_TEXT.items())
            + ".\n\nSettings:\n\n" + settings
            + "\nSafety watches (whole life of each lab, every 50 ms):\n\n" + watch
            + ("\nRuns that failed (left out of the figures; their per-run record in the "
               "JSON has the stack's own account):\n\n" + failed if failed else "")
            + (f"\nNote: {note}\n" if note else ""))


def measure(args: argparse.Namespace) -> int:
    families = args.only or list(STACKS)
    found = [measure_stack(family, args.faults, args.runs) for family in families]
    text = markdown(found, args.runs, args.note)
    print(text)
    data = {"benchmark": "nfs-failover", "runs_per_fault": args.runs,
            "environment": report.environment(), "note": args.note, "stacks": found}
    whole = len(families) == len(STACKS) and len(args.faults) == len(FAULTS)
    for path in report.write_results("nfs-failover" if whole else "nfs-failover-partial",
                                     data, text):
        say(f"wrote {path}")
    clean = all(f["ok"] == f["runs"] for s in found for f in s["faults"]) and \
        not any(s["violations"] for s in found)
    return 0 if clean else 1


class UsageParser(BenchParser):
    """The scaffold's parser, with the usage printed above a bad argument's one line."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        super().error(message)


def main(argv: list[str] | None = None) -> int:
    prog = "bench/nfs_failover.py"
    p = UsageParser(prog=prog, description="NFS client-visible pause across failovers: "
                    "tandem's HA_NFS beside the same resources under Pacemaker.",
                    parents=[parser(prog, "", install=True)], conflict_handler="resolve")
    p.add_argument("--runs", type=int, default=5, help="runs per stack and fault (default 5)")
    p.add_argument("--only", nargs="+", choices=list(STACKS), metavar="STACK",
                   help="stacks to run: tandem, pacemaker (default both)")
    p.add_argument("--faults", nargs="+", choices=FAULTS, default=list(FAULTS),
                   metavar="FAULT", help="crash, kill, relocate (default all three)")
    p.add_argument("--note", help="a line added to the results (e.g. what else ran on "
                                  "the machine)")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    return run(args, measure, install=install)


if __name__ == "__main__":
    sys.exit(main())
