"""`tandem qdisk init | status | run`: prepare a quorum disk (like mkqdisk), read it
directly, and run one node's quorum disk runner in the foreground (tests, debugging).

Also runnable before it is wired into `tandem`: `python -m tandem.cli.qdisk_cmd ...`.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from tandem.cli.common import Sub, UsageError
from tandem.cli.guard import guarded
from tandem.cli.render import print_json, table
from tandem.config import ConfigError
from tandem.config.reader import Section
from tandem.quorum.qdisk.config import (
    DEFAULT_HEURISTIC_INTERVAL_MS,
    DEFAULT_HEURISTIC_TIMEOUT_MS,
    MIN_TKO,
    QdiskDef,
    read_qdisk_section,
)
from tandem.quorum.qdisk.device import QdiskDevice, init_disk
from tandem.quorum.qdisk.format import MAX_NODES
from tandem.quorum.qdisk.heuristics import Heuristic
from tandem.quorum.qdisk.report import disk_report
from tandem.quorum.qdisk.runner import QdiskView, QuorumDisk

DEFAULT_CONFIG = "/etc/tandem/cluster.toml"
EXIT_ERROR = 1
EXIT_USAGE = 2
Command = Callable[[argparse.Namespace], int]


def register(sub: Sub) -> None:
    qdisk = sub.add_parser("qdisk", help="quorum disk: initialise, inspect, run")
    qdisk.set_defaults(group_parser=qdisk)
    cmds = qdisk.add_subparsers(title="qdisk commands", metavar="COMMAND")
    init = cmds.add_parser("init", help="write a fresh quorum disk header and empty slots")
    init.add_argument("device")
    init.add_argument("--label", required=True, help="label the nodes check (<= 64 bytes)")
    init.add_argument("--cell", default="", help="cell name recorded in the header")
    init.add_argument("--nodes", type=int, default=MAX_NODES, metavar="N",
                      help=f"slots for node ids 1..N (default {MAX_NODES})")
    init.add_argument("--force", action="store_true",
                      help="overwrite a disk that holds a quorum disk or other data")
    init.set_defaults(func=cmd_init)
    status = cmds.add_parser("status", help="read the disk: header, slots, master")
    status.add_argument("device", nargs="?",
                        help=f"default: [qdisk] device of --config ({DEFAULT_CONFIG})")
    status.add_argument("--config", default=DEFAULT_CONFIG)
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)
    _register_run(cmds)


def _register_run(cmds: Sub) -> None:
    run = cmds.add_parser("run", help="run this node's quorum disk runner in the foreground "
                                      "(tests and debugging; never beside tandemd)")
    run.add_argument("--node-id", type=int, required=True)
    run.add_argument("--device", help="default: [qdisk] device of --config")
    run.add_argument("--config", help="read the [qdisk] section of this cell configuration")
    run.add_argument("--label")
    run.add_argument("--name", default="", help="node name written in the slot")
    run.add_argument("--cell", default="", help="refuse a disk of another cell")
    run.add_argument("--interval-ms", type=int)
    run.add_argument("--tko", type=int)
    run.add_argument("--votes", type=int)
    run.add_argument("--heuristic", action="append", default=[], metavar="COMMAND",
                     help="a heuristic command line (score 1), repeatable")
    run.add_argument("--heuristic-interval-ms", type=int,
                     default=DEFAULT_HEURISTIC_INTERVAL_MS)
    run.add_argument("--heuristic-timeout-ms", type=int, default=DEFAULT_HEURISTIC_TIMEOUT_MS)
    run.add_argument("--min-score", type=int)
    run.add_argument("--status-file", help="rewrite this JSON file with the view each cycle")
    run.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    run.set_defaults(func=cmd_run)


# -- init -------------------------------------------------------------------------------
def cmd_init(args: argparse.Namespace) -> int:
    if not 1 <= args.nodes <= MAX_NODES:
        raise UsageError(f"--nodes must be 1..{MAX_NODES}")
    header = init_disk(args.device, args.label, cell=args.cell, max_nodes=args.nodes,
                       force=args.force)
    print(f"{args.device}: quorum disk {header.label!r} initialised: "
          f"{header.max_nodes} slots, uuid {header.uuid.hex()}")
    return 0


# -- status -----------------------------------------------------------------------------
def cmd_status(args: argparse.Namespace) -> int:
    device = args.device or _config_qdisk(args.config).device
    with QdiskDevice(device, writable=False) as dev:
        image = dev.read_image()
    report = disk_report(image, device, time.time())
    if args.json:
        print_json(report)
        return 0
    cell = f", cell {report['cell']}" if report["cell"] else ""
    print(f"quorum disk {device}: label {report['label']!r}{cell}, format "
          f"v{report['version']}, {report['max_nodes']} slots, uuid {report['uuid']}")
    master = report["master"]
    print("master: " + (f"node {master}" if master is not None else "none"))
    if len(report["masters"]) > 1:
        print(f"WARNING: several fresh slots claim master: {report['masters']}")
    table(["node", "name", "state", "role", "seq", "last write", "score", "vote", "sees"],
          [_status_row(s) for s in report["slots"]])
    return 0


def _status_row(slot: dict[str, Any]) -> list[str]:
    if slot.get("error"):
        return [str(slot["node_id"]), "", "unreadable", "", "", "", "", "", slot["error"]]
    age = f"{slot['age_s']:.1f} s ago" + ("" if slot["fresh"] else " (stale)")
    score = f"{slot['score']}/{slot['max_score']} {'ok' if slot['score_ok'] else 'FAIL'}"
    return [str(slot["node_id"]), slot["name"], slot["state"],
            slot["role"] if slot["role"] != "none" else "-", str(slot["seq"]), age, score,
            str(slot["vote"] or "-"), ",".join(str(i) for i in slot["seen"])]


def _config_qdisk(path: str) -> QdiskDef:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(path, "", f"cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "", f"not valid TOML: {exc}") from None
    section = Section(data, path).table("qdisk")
    if section is None:
        raise UsageError(f"no DEVICE given and {path} has no [qdisk] section")
    return read_qdisk_section(section)


# -- run --------------------------------------------------------------------------------
def run_config(args: argparse.Namespace) -> QdiskDef:
    """The [qdisk] settings for `run`: the configuration file if given, then the flags."""
    base = _config_qdisk(args.config) if args.config else None
    device = args.device or (base.device if base else None)
    if not device:
        raise UsageError("give --device or --config")
    config = replace(base, device=device) if base else QdiskDef(device=device)
    flags = {"label": args.label, "interval_ms": args.interval_ms, "tko": args.tko,
             "votes": args.votes, "min_score": args.min_score}
    config = replace(config, **{k: v for k, v in flags.items() if v is not None})
    if args.heuristic:
        try:
            config = replace(config, heuristics=tuple(
                Heuristic(command=tuple(shlex.split(line)),
                          interval_s=args.heuristic_interval_ms / 1000.0,
                          timeout_s=args.heuristic_timeout_ms / 1000.0)
                for line in args.heuristic))
        except ValueError as exc:
            raise UsageError(f"--heuristic: {exc}") from None
    if config.tko < MIN_TKO or config.interval_ms < 10:
        raise UsageError(f"--tko must be >= {MIN_TKO} and --interval-ms >= 10")
    return config


def cmd_run(args: argparse.Namespace) -> int:
    config = run_config(args)
    runner = QuorumDisk(config, args.node_id, node_name=args.name, cell=args.cell)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGTERM, signal.SIGINT)}
    deadline = time.monotonic() + args.duration if args.duration else None
    runner.start()
    last = ""
    try:
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            view = runner.snapshot()
            line = _summary(args.node_id, view)
            if line != last:
                print(line, flush=True)
                last = line
            if args.status_file:
                _write_status(args.status_file, args.node_id, view)
            stop.wait(config.interval_s)
    finally:
        stopped = runner.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if args.status_file:
        _write_status(args.status_file, args.node_id, runner.snapshot())
    return 0 if stopped else EXIT_ERROR


def _summary(node_id: int, view: QdiskView) -> str:
    if not view.available:
        return f"qdisk node {node_id}: unavailable: {view.error}"
    master = "none" if view.master is None else str(view.master)
    alive = ",".join(str(i) for i in sorted(view.alive_on_disk))
    ok = "ok" if view.score_ok else "FAIL"
    return (f"qdisk node {node_id}: {view.state}, master {master}"
            f"{' (me)' if view.i_am_master else ''}, alive {alive}, "
            f"score {view.my_score}/{view.max_score} {ok}: {view.reason}")


def _write_status(path: str, node_id: int, view: QdiskView) -> None:
    """Replace `path` atomically, so a reader never sees half a document."""
    data = {"node_id": node_id, "time": time.time(), **view.to_dict()}
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    """`tandem qdisk ...` on its own (before it is wired into the tandem command)."""
    parser = argparse.ArgumentParser(prog="tandem")
    register(parser.add_subparsers())
    args = parser.parse_args(["qdisk", *(sys.argv[1:] if argv is None else argv)])
    func: Command | None = getattr(args, "func", None)
    if func is None:
        args.group_parser.print_help(sys.stderr)
        return EXIT_USAGE
    command = func
    return guarded("tandem", lambda: command(args))


if __name__ == "__main__":
    sys.exit(main())
