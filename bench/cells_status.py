#!/usr/bin/env python3
"""bench/cells_status.py: time of `tandem cells status -a` against the number of cells.

    python3 bench/cells_status.py [--cells 1 10 50 100 200] [--runs 5] [--fanout 64]
                                  [--sources dir sqlite postgresql]
    python3 bench/cells_status.py --record     # record the node answers again, first

This machine cannot run 400 daemons, so no node here is real at measurement time. What
answers for each node is a recording: the output of the fleet's status command (the
installed configuration's sha256, then `tandem status --json`) taken once from each
node of a real two-node lab cell with both daemons running and both services started
(`--record` takes it again: bench/data/cells_status/). For N cells, N copies of that
cell's file are written, renamed (cell cNNN, nodes nK), with each node's recording
renamed the same way and carrying its copy's sha256, so every cell reads "in sync".

The command measured is the real `tandem cells status -a --json`, as a process, with
each source of cells (--sources): the N cell files as a directory (`--from-dir`), or an
inventory database holding the same N cells (SQLite, or PostgreSQL on a server of the
benchmark's own; filled with `tandem db import` beforehand, not measured; each node's
recording then carries its cell's generated hash). Measured: its start-up, the source
(reading and checking every cell file, or one read of the database), the fan-out
through ClusterShell's exec worker (one `cat` of the node's recording per node: the
same Task, workers, fanout and folding as over ssh, without the network and the
nodes' own `tandem status`), the folding and reading of every answer into each cell's
verdict, and the recording of where services run (locations/CELL.json, or one
transaction for all cells in the database). Prints the curve per source (median, min
and max of --runs per size, and each step's median) and writes
bench/results/cells_status.{json,md} (unless --no-save).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchlib.cli import parser, precompile, run, say
from benchlib.errors import BenchError
from benchlib.inventory_site import SOURCES, Backend, fill
from benchlib.labs import built_lab
from benchlib.report import environment, table, write_results
from tandem.fleet import remote
from tandem.lab.query import cell_status
from tandem.lab.wait import wait_for

DATA = Path(__file__).resolve().parent / "data" / "cells_status"
SOURCE_CELL = Path(__file__).resolve().parents[1] / "examples" / "site" / "io12.toml"
CELL, NODES = "io12", ("io1", "io2")  # the recorded cell and its members
TARGET_CELLS, TARGET_S = 200, 3.0
STEPS = ("source", "fanout", "fold", "record")


# -- recording --------------------------------------------------------------------------
def record() -> None:
    """Take each node's answer to the fleet's status command from a real lab cell."""
    text = SOURCE_CELL.read_text()
    with built_lab("cellsrec", text, say=say, start=True) as lab:
        def settled() -> bool:
            seen = [cell_status(lab.control, node) for node in NODES]
            return all(s is not None and all(n.state == "online" for n in s.nodes)
                       and all(v.state == "started" for v in s.services) for s in seen)

        wait_for(settled, 90, "both daemons online and both services started")
        DATA.mkdir(parents=True, exist_ok=True)
        (DATA / "cell.toml").write_text(text)
        for node in NODES:
            line = remote.on_path(remote.STATUS, str(Path(sys.executable).parent))
            done = subprocess.run(lab.control.exec_argv(node, ["sh", "-c", line]),
                                  capture_output=True, text=True, timeout=60, check=False)
            if done.returncode != 0:
                raise BenchError(f"status of {node} in the lab failed: {done.stderr.strip()}")
            (DATA / f"{node}.out").write_text(done.stdout)
            say(f"recorded {node}: {len(done.stdout)} bytes")


# -- a site of N recorded cells ------------------------------------------------------------
def renamed(text: str, cell: str, first: int) -> str:
    """`text` of the recorded cell, for cell `cell` with nodes n<first> and n<first+1>."""
    names = {CELL: cell, NODES[0]: f"n{first}", NODES[1]: f"n{first + 1}"}
    return re.sub(r"\b(" + "|".join(names) + r")\b", lambda m: names[m.group(1)], text)


def build_site(work: Path, cells: int) -> None:
    """Under `work`: cells/ (N cell files and site.toml), answers/ (each node's
    recording) and an empty fleet file."""
    cell_text = (DATA / "cell.toml").read_text()
    answers = {node: (DATA / f"{node}.out").read_text() for node in NODES}
    directory, out = work / "cells", work / "answers"
    directory.mkdir()
    out.mkdir()
    addresses = []
    for index in range(1, cells + 1):
        name, first = f"c{index:03d}", 2 * index - 1
        text = renamed(cell_text, name, first)
        (directory / f"{name}.toml").write_text(text)
        sha = hashlib.sha256(text.encode()).hexdigest()
        for offset, node in enumerate(NODES):
            body = renamed(answers[node], name, first).split("\n", 1)[1]
            (out / f"n{first + offset}").write_text(f"{sha}  -\n{body}")
            addresses.append(f'n{first + offset} = "n{first + offset}"')
    # Every copy has the recorded cell's addresses: each node is reached by its name.
    (directory / "site.toml").write_text("[addresses]\n" + "\n".join(addresses) + "\n")
    (work / "fleet.toml").write_text("")


def with_hashes(work: Path, hashes: dict[str, str]) -> Path:
    """answers-db/: each node's recording carrying its cell's generated hash."""
    out = work / "answers-db"
    out.mkdir()
    for path in (work / "answers").iterdir():
        cell = f"c{(int(path.name[1:]) + 1) // 2:03d}"
        body = path.read_text().split("\n", 1)[1]
        (out / path.name).write_text(f"{hashes[cell]}  -\n{body}")
    return out


def tandem_path() -> str:
    return shutil.which("tandem") or str(Path(sys.executable).parent / "tandem")


def one_run(work: Path, fanout: int, source: list[str], answers: Path) -> dict[str, float]:
    """One `tandem cells status -a` over `source` (its options): its wall time and the
    steps it reported."""
    argv = [tandem_path(), "cells", "status", "-a", "--json", *source,
            "--fleet-config", str(work / "fleet.toml"), "--fanout", str(fanout),
            "--exec", f"cat {answers}/%h"]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    wall = time.perf_counter() - started
    try:
        outcome = json.loads(done.stdout)
    except ValueError:
        raise BenchError(f"tandem cells status gave no JSON: {done.stderr.strip()}") from None
    states = {c["state"] for c in outcome["cells"]}
    if done.returncode != 0 or states != {"in sync"} or outcome.get("record_error"):
        raise BenchError(f"tandem cells status: exit {done.returncode}, cell states "
                         f"{sorted(states)}: {done.stderr.strip()}")
    steps = {k: float(outcome["timings"][k]) for k in STEPS}
    return {"total": wall, **steps, "other": wall - sum(steps.values())}


def one_size(backend: Backend, work: Path, cells: int, runs: int, fanout: int
             ) -> list[dict[str, float]]:
    """--runs timings of a site of `cells` cells from `backend`'s source."""
    build_site(work, cells)
    url = backend.url(f"bench_{cells}")
    if url is None:
        source, answers = ["--from-dir", str(work / "cells")], work / "answers"
    else:
        hashes = fill(url, work / "cells", work, tandem_path())
        source, answers = ["--db", url], with_hashes(work, hashes)
    one_run(work, fanout, source, answers)  # warm the page cache
    return [one_run(work, fanout, source, answers) for _ in range(runs)]


# -- report -----------------------------------------------------------------------------
def summary(samples: list[dict[str, float]]) -> dict[str, Any]:
    totals = [s["total"] for s in samples]
    return {"total_median_s": statistics.median(totals), "total_min_s": min(totals),
            "total_max_s": max(totals),
            **{f"{k}_median_s": statistics.median(s[k] for s in samples)
               for k in (*STEPS, "other")}}


SOURCE_NAMES = {"dir": "directory of cell files (`--from-dir`)",
                "sqlite": "inventory in SQLite (`--db sqlite:///...`)",
                "postgresql": "inventory in PostgreSQL (a local server, unix socket)"}


def markdown(results: dict[str, dict[int, dict[str, Any]]], runs: int, fanout: int) -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    text = ("# `tandem cells status -a` against the number of cells\n\n"
            f"Median of {runs} runs per size (min-max), fanout {fanout}, {os.cpu_count()} "
            f"CPUs, load average {load} at the end (the machine is shared); each node "
            "answers with a recording of a real node's status (see "
            "bench/cells_status.py). Steps in ms: start-up (the command's own start and "
            "output), source (read and check the cells: the files, or the database), "
            "fan-out (ClusterShell exec worker), fold (read answers into verdicts), "
            "record (where services run: one small file per cell, or one transaction "
            "for all).\n")
    for source, sizes in results.items():
        text += f"\n## {SOURCE_NAMES[source]}\n\n" + _size_table(sizes)
    return text + _database_share(results)


def _size_table(sizes: dict[int, dict[str, Any]]) -> str:
    rows = [[cells, 2 * cells,
             f"{s['total_median_s']:.2f} ({s['total_min_s']:.2f}-{s['total_max_s']:.2f})",
             *(f"{s[f'{k}_median_s'] * 1000:.0f}" for k in ("other", *STEPS))]
            for cells, s in sorted(sizes.items())]
    widest = max(s["total_median_s"] for s in sizes.values())
    curve = "\n".join(f"{cells:>4} cells {'#' * max(1, round(40 * s['total_median_s'] / widest))}"
                      f" {s['total_median_s']:.2f} s" for cells, s in sorted(sizes.items()))
    verdict = ""
    if TARGET_CELLS in sizes:
        median = sizes[TARGET_CELLS]["total_median_s"]
        verdict = (f"\nTarget: {TARGET_CELLS} cells in <= {TARGET_S:g} s: "
                   f"{'met' if median <= TARGET_S else 'NOT met'} ({median:.2f} s).\n")
    return (table(["cells", "nodes", "total s", "start-up", "source", "fan-out", "fold",
                   "record"], rows) + f"\n```\n{curve}\n```\n{verdict}")


def _database_share(results: dict[str, dict[int, dict[str, Any]]]) -> str:
    """At the largest size: how much of each run the source and the record took."""
    lines = []
    for source, sizes in results.items():
        largest = max(sizes)
        s = sizes[largest]
        share = s["source_median_s"] + s["record_median_s"]
        lines.append(f"- {SOURCE_NAMES[source]}, {largest} cells: source "
                     f"{s['source_median_s'] * 1000:.0f} ms + record "
                     f"{s['record_median_s'] * 1000:.0f} ms = {share:.2f} s of "
                     f"{s['total_median_s']:.2f} s ({100 * share / s['total_median_s']:.0f} %)")
    return "\n## The source's share\n\n" + "\n".join(lines) + "\n"


def measure(args: argparse.Namespace) -> int:
    if args.record or not (DATA / "cell.toml").exists():
        record()
    precompile()
    results: dict[str, dict[int, dict[str, Any]]] = {}
    samples: dict[str, dict[int, list[dict[str, float]]]] = {}
    for source in args.sources:
        results[source], samples[source] = {}, {}
        with tempfile.TemporaryDirectory(prefix="tandem-cells-bench-") as root, \
                ExitStack() as stack:
            backend = Backend(source, Path(root), stack)
            for cells in args.cells:
                work = Path(root) / f"site{cells}"
                work.mkdir()
                samples[source][cells] = one_size(backend, work, cells, args.runs,
                                                  args.fanout)
                results[source][cells] = summary(samples[source][cells])
                say(f"{source}, {cells} cells: median "
                    f"{results[source][cells]['total_median_s']:.2f} s")
    text = markdown(results, args.runs, args.fanout)
    print(text)
    if not args.no_save:
        data = {"environment": environment(), "load_average": os.getloadavg(),
                "runs": args.runs, "fanout": args.fanout,
                "sizes": {src: {str(k): v for k, v in sizes.items()}
                          for src, sizes in results.items()},
                "samples": {src: {str(k): v for k, v in per.items()}
                            for src, per in samples.items()}}
        for path in write_results("cells_status", data, text):
            say(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = parser("bench/cells_status.py", "Time of `tandem cells status -a` against the "
                                        "number of cells (recorded node answers).")
    p.add_argument("--cells", type=int, nargs="+", default=[1, 2, 5, 10, 20, 50, 100, 200],
                   metavar="N")
    p.add_argument("--runs", type=int, default=5, help="runs per size (default 5)")
    p.add_argument("--fanout", type=int, default=64)
    p.add_argument("--sources", nargs="+", choices=SOURCES, default=list(SOURCES),
                   help="where the cells come from (default: all three)")
    p.add_argument("--record", action="store_true",
                   help="record the node answers again from a real lab cell first")
    p.add_argument("--no-save", action="store_true")
    args = p.parse_args(argv)
    if any(n < 1 for n in args.cells) or args.runs < 1 or args.fanout < 1:
        p.error("--cells, --runs and --fanout take positive numbers")
    return run(args, measure)


if __name__ == "__main__":
    sys.exit(main())
