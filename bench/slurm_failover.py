#!/usr/bin/env python3
"""bench/slurm_failover.py: how long Slurm's queue is unavailable when the node that runs
the controller loses power, with tandem moving the controller (mode `tandem`: fence, mount
the state disk, start slurmctld, `scontrol takeover`) and with Slurm's own backup
controller (mode `slurm`: tandem fences and moves the disk, Slurm's backup takes control
after SlurmctldTimeout), at Slurm's default timeout and at a short one, in the same lab.

    python3 bench/slurm_failover.py --runs 5 [--only tandem-virtual slurm-short ...]

Each run builds the cell of examples/slurm/cell.toml (mode and SlurmctldTimeout set per
variant) with a compute host running a real slurmd, submits a running and a held job,
cuts node1's power and times, from the compute host, the first `squeue` that answers
again; then checks that both jobs are still known. Figures go to stdout, progress to
stderr, results to bench/results/slurm-failover.{json,md} (slurm-failover-VARIANTS.* for
a subset).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from benchlib import report
from benchlib.cli import parser, run, say
from benchlib.errors import BenchError
from benchlib.labs import Lab, built_lab
from tandem.lab import slurm
from tandem.lab.query import node_status, service_owner
from tandem.lab.wait import wait_for

CELL = Path(__file__).resolve().parents[1] / "examples" / "slurm" / "cell.toml"
CONTROLLERS = [("node1", "198.51.100.11"), ("node2", "198.51.100.12")]
COMPUTE_ADDRESS = "198.51.100.250"
VIRTUAL = ("slurmctl", "198.51.100.60")
SERVICE = "slurm"
ANSWER_LIMIT_S = 400.0


@dataclass(frozen=True)
class Variant:
    name: str
    mode: str
    timeout_s: int
    what: str
    virtual: bool = False

    @property
    def controllers(self) -> list[tuple[str, str]]:
        return [VIRTUAL] if self.virtual else CONTROLLERS


VARIANTS = (
    Variant("tandem-virtual", "tandem", 10, "tandem moves the controller with its own name "
                                            "and address (virtual_host)", virtual=True),
    Variant("tandem", "tandem", 10, "tandem moves the controller, scontrol takeover "
                                    "(SlurmctldTimeout 10 s)"),
    Variant("slurm-short", "slurm", 10, "Slurm's own backup, SlurmctldTimeout 10 s"),
    Variant("slurm-default", "slurm", 120, "Slurm's own backup, SlurmctldTimeout 120 s "
                                           "(Slurm's default)"),
)


def cell_text(variant: Variant) -> str:
    text = CELL.read_text()
    if 'mode = "tandem"' not in text:
        raise BenchError(f"{CELL}: the slurmctld resource's mode is not where expected")
    text = text.replace('mode = "tandem"', f'mode = "{variant.mode}"')
    if variant.virtual:  # the address before the controller, which runs under its name
        name, address = VIRTUAL
        ctld = '[[services.resources]]\nname = "slurm-ctld"'
        text = text.replace(ctld, f'[[services.resources]]\nname = "slurm-ip"\nagent = "ip"\n'
                                  f'params = {{ address = "{address}/24", interface = "eth0" }}'
                                  f'\n\n{ctld}')
        text = text.replace('mode = "tandem" }', f'mode = "tandem", virtual_host = "{name}" }}')
    return text


def quorate(lab: Lab, node: str) -> bool:
    return bool((node_status(lab.control, node) or {}).get("quorate"))


def prepare(lab: Lab, variant: Variant) -> slurm.ComputeHost:
    """Nodes, state disk, the service on node1 (and, for Slurm's own backup, the
    controllers the site runs on both nodes), the compute host registered."""
    conf = slurm.slurm_conf(variant.controllers, COMPUTE_ADDRESS, timeout_s=variant.timeout_s)
    hosts = slurm.hosts_file([*CONTROLLERS, VIRTUAL, (slurm.COMPUTE, COMPUTE_ADDRESS)])
    for node in lab.nodes:
        wait_for(partial(quorate, lab, node), 60, f"{node} to be quorate")
        slurm.prepare_node(lab.control, node, conf, hosts)
    slurm.prepare_state_disk(lab.control, "node1", "/dev/tandem/shared")
    slurm.run_in(lab.control, "node1", f"clusvcadm -e {SERVICE} -m node1", timeout=120)
    wait_for(lambda: service_owner(lab.control, "node2", SERVICE) == "node1", 60,
             "the service on node1")
    if variant.mode == "slurm":  # the site's controllers: primary, then backup
        # The backup starts before the disk is there: it needs a state directory of its
        # own under the mount point (the disk hides it once tandem mounts it there).
        slurm.run_in(lab.control, "node2", f"mkdir -p {slurm.STATE_DIR} && "
                                           f"chown slurm:slurm {slurm.STATE_DIR}")
        for node in ("node1", "node2"):
            slurm.run_in(lab.control, node, f"/usr/sbin/slurmctld -f {slurm.CONF}")
    compute = slurm.ComputeHost(lab.control)
    compute.start(conf, hosts)
    wait_for(lambda: compute.node_state() in ("idle", "mixed", "allocated"), 60,
             "compute1 to register")
    return compute


def one_run(variant: Variant, index: int) -> dict[str, Any]:
    with built_lab(f"slurm{index}", cell_text(variant), say=say) as lab:
        compute = prepare(lab, variant)
        running = compute.sbatch("--wrap 'sleep 600'")
        held = compute.sbatch("--hold", "--wrap true")
        wait_for(lambda: (compute.jobs() or {}).get(running) == "RUNNING", 30, "the job")
        time.sleep(8)  # both acknowledged well before the crash (Slurm saves late)
        fault = time.monotonic()
        lab.control.crash("node1")
        seen = wait_for(lambda: compute.jobs(timeout=ANSWER_LIMIT_S), ANSWER_LIMIT_S,
                        "squeue to answer after the crash")
        answered = time.monotonic() - fault
        kept = running in seen and held in seen
        fenced = lab.control.power("node1").power == "off"
        say(f"{variant.name} run {index}: squeue answered after {answered:.1f} s, "
            f"jobs kept: {kept}, node1 fenced: {fenced}")
        return {"answer_s": round(answered, 2), "jobs_kept": kept, "fenced": fenced}


def summary(variant: Variant, runs: list[dict[str, Any]]) -> dict[str, Any]:
    values = [r["answer_s"] for r in runs]
    return {"variant": variant.name, "what": variant.what, "runs": len(runs),
            "median_s": statistics.median(values), "min_s": min(values),
            "max_s": max(values), "jobs_kept": sum(r["jobs_kept"] for r in runs),
            "node_fenced": sum(r["fenced"] for r in runs), "per_run": runs}


def measure(args: argparse.Namespace) -> int:
    chosen = [v for v in VARIANTS if not args.only or v.name in args.only]
    unknown = set(args.only or ()) - {v.name for v in VARIANTS}
    if unknown:
        raise BenchError(f"unknown variant(s) {', '.join(sorted(unknown))}; known: "
                         f"{', '.join(v.name for v in VARIANTS)}")
    found = [summary(v, [one_run(v, i) for i in range(1, args.runs + 1)]) for v in chosen]
    rows = [[f["variant"], f["runs"], report.fixed(f["median_s"], 1),
             f"{f['min_s']:.1f}-{f['max_s']:.1f}", f"{f['jobs_kept']}/{f['runs']}",
             f["what"]] for f in found]
    markdown = ("## Slurm controller: time until `squeue` answers after a power loss\n\n"
                "From a compute host beside the cell; the clock starts at the power cut.\n\n"
                + report.table(["variant", "runs", "median s", "min-max s", "jobs kept",
                                "setting"], rows))
    print(markdown)
    data = {"benchmark": "slurm-failover", "environment": report.environment(),
            "variants": found}
    name = "slurm-failover" if len(chosen) == len(VARIANTS) else \
        "slurm-failover-" + "-".join(v.name for v in chosen)
    for path in report.write_results(name, data, markdown):
        say(f"wrote {path}")
    return 0 if all(f["jobs_kept"] == f["runs"] for f in found) else 1


def main() -> int:
    p = parser("slurm_failover.py", "Slurm's queue after a controller crash: tandem "
                                    "versus Slurm's own backup")
    p.add_argument("--runs", type=int, default=5, help="runs per variant (default 5)")
    p.add_argument("--only", nargs="+", metavar="NAME",
                   help=f"variants: {', '.join(v.name for v in VARIANTS)}")
    args = p.parse_args()
    if args.runs < 1:
        p.error("--runs must be at least 1")
    return run(args, measure)


if __name__ == "__main__":
    sys.exit(main())
