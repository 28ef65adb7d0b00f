"""`tandem lab ...`: build, inspect, break and remove virtual cells."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from tandem.cli.common import Sub, UsageError
from tandem.cli.render import print_json, progress_line, table
from tandem.lab import builder
from tandem.lab.bmcauth import bmc_password
from tandem.lab.faults import NetworkFaults
from tandem.lab.names import LabNames, existing_labs
from tandem.lab.nodes import NodeControl
from tandem.lab.proc import LabError, run
from tandem.lab.san import SanLayout
from tandem.lab.sshd import LabSsh
from tandem.lab.state import LabRecord
from tandem.lab.status import lab_status
from tandem.lab.watch import SplitBrainWatch, Violation


def register(sub: Sub) -> None:
    lab = sub.add_parser("lab", help="virtual cells on this machine (namespaces, BMCs, disks)",
                         description="Build a replica of a cell on this machine, break it, "
                                     "and remove it.")
    lab.set_defaults(group_parser=lab)
    cmds = lab.add_subparsers(title="lab commands", metavar="COMMAND")

    up = cmds.add_parser("up", help="build a lab from a cluster configuration (or a site)")
    origin = up.add_mutually_exclusive_group(required=True)
    origin.add_argument("--config", help="cluster configuration (TOML)")
    origin.add_argument("--site", metavar="DIR",
                        help="a management node and every cell of a directory of cell "
                             "files: blank nodes with sshd, for `tandem cells`")
    up.add_argument("--name", help="lab name (default: the cluster name, or 'site')")
    up.add_argument("--start", action="store_true", help="also start tandemd in every node")
    up.set_defaults(func=cmd_up)

    down = cmds.add_parser("down", help="remove a lab and everything it created")
    down.add_argument("name", nargs="?", help="lab name (default: the only lab)")
    down.set_defaults(func=cmd_down)

    lst = cmds.add_parser("list", help="labs that exist on this machine")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=cmd_list)

    status = _with_lab(cmds.add_parser("status", help="nodes, power, addresses, disks"))
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)

    ex = _with_lab(cmds.add_parser("exec", help="run a command inside a node ('client' for "
                                                "the client namespace)"))
    ex.add_argument("node")
    ex.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    ex.set_defaults(func=cmd_exec)

    _register_faults(cmds)


def _register_faults(cmds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The commands that break a lab's nodes, cables and disks, and watch it."""
    crash = _with_lab(cmds.add_parser("crash", help="power loss that the BMC did not cause"))
    crash.add_argument("node")
    crash.add_argument("--storage", action="store_true",
                       help="fail the node's san paths first (journal left dirty)")
    crash.add_argument("--delay", type=float, default=None, metavar="SECONDS",
                       help="with --storage: time between the path failure and the "
                            "power loss (default 0.5)")
    crash.set_defaults(func=cmd_crash)

    storage = _with_lab(cmds.add_parser("storage", help="fail or restore a node's paths to "
                                                        "the san disks (no crash)"))
    storage.add_argument("node")
    storage.add_argument("action", choices=["fail", "restore", "status"])
    storage.set_defaults(func=cmd_storage)

    for name, text in (("hang", "freeze every process of the node (SIGSTOP)"),
                       ("resume", "unfreeze a hung node (SIGCONT)")):
        fault = _with_lab(cmds.add_parser(name, help=text))
        fault.add_argument("node")
        fault.set_defaults(func=cmd_node_fault, fault=name)

    for name, text in (("cut", "pull a node's cable on one network"),
                       ("heal", "plug a node's cable back")):
        cable = _with_lab(cmds.add_parser(name, help=text))
        cable.add_argument("node")
        where = cable.add_mutually_exclusive_group(required=True)
        where.add_argument("--net", help="network name from the configuration")
        where.add_argument("--bmc", action="store_true", help="the node's BMC cable instead")
        cable.set_defaults(func=cmd_cable, fault=name)

    netem = _with_lab(cmds.add_parser("netem", help="packet loss (and delay where the "
                                                    "kernel has netem) on a node's link"))
    netem.add_argument("node")
    netem.add_argument("--net", required=True)
    netem.add_argument("--loss", type=_percent, default=0.0, help="percent of packets lost")
    netem.add_argument("--delay", type=float, default=0.0, metavar="MS")
    netem.add_argument("--clear", action="store_true", help="remove any impairment")
    netem.set_defaults(func=cmd_netem)

    power = _with_lab(cmds.add_parser("power", help="power a node through its BMC (real "
                                                    "ipmitool from the client namespace)"))
    power.add_argument("node")
    power.add_argument("action", choices=["status", "on", "off", "cycle", "reset"])
    power.set_defaults(func=cmd_power)

    watch = _with_lab(cmds.add_parser("watch", help="report any double mount or address "
                                                    "present on two nodes"))
    watch.add_argument("--interval", type=float, default=50.0, metavar="MS")
    watch.add_argument("--duration", type=float, default=0.0, metavar="S",
                       help="stop after S seconds (default: until interrupted)")
    watch.set_defaults(func=cmd_watch)


def _with_lab(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--lab", help="lab name (default: the only lab)")
    return parser


def _percent(text: str) -> float:
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage, got {text!r}") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"expected 0..100, got {value}")
    return value


def _say(message: str) -> None:
    progress_line(message)


def cmd_up(args: argparse.Namespace) -> int:
    started = time.monotonic()
    if args.site:
        if args.start:
            raise UsageError("--start goes with --config: a site's nodes are started "
                             "from the management node (tandem cells start)")
        from tandem.lab.site import LAB_VIEW_NAME, site_lab_up

        record = site_lab_up(args.site, args.name or LAB_VIEW_NAME, progress=_say)
    else:
        record = builder.lab_up(args.config, args.name, start=args.start, progress=_say)
    print(f"lab {record.name} is up ({time.monotonic() - started:.1f} s); "
          f"see `tandem lab status --lab {record.name}`")
    if args.site:
        print(f"from its management node: tandem lab exec --lab {record.name} "
              f"{record_management(args.site)} -- tandem cells status -a --from-dir "
              f"{args.site} --fleet-config {LabSsh(LabNames(record.name)).fleet_file}")
    return 0


def record_management(site: str) -> str:
    """The management node's name in the site of directory `site`."""
    from tandem.fleet.sitefile import load_site

    management = load_site(Path(site)).management
    return management.name if management else "?"


def cmd_down(args: argparse.Namespace) -> int:
    name = builder.resolve_lab(args.name)
    removed = builder.lab_down(name, progress=_say)
    print(f"lab {name} removed ({len(removed)} items)")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    labs = existing_labs()
    if args.json:
        print_json({"labs": labs})
    else:
        print("\n".join(labs) if labs else "no labs")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    record, config = builder.load_lab(args.lab)
    status = lab_status(record, config)
    _add_san_paths(record, status)
    if args.json:
        print_json(status)
        return 0
    print(f"lab {status['name']}  (config {status['config']})")
    rows = []
    for node in status["nodes"]:
        bmc = node["bmc"]
        rows.append([node["name"], f"{node['power']} ({node['condition']})",
                     "yes" if node["daemon"] else "no",
                     " ".join(f"{k}={v}" for k, v in node["addresses"].items()),
                     " ".join(node["extra_addresses"]) or "-",
                     f"{bmc['address']}:{bmc['port']} {bmc['user']}" if bmc else "-",
                     " ".join(f"{m['disk']}@{m['mountpoint']}" for m in node["mounts"]) or "-",
                     ",".join(node["cut"]) or "-"])
    table(["node", "power", "tandemd", "static addresses", "other addresses", "BMC",
           "shared mounts", "cut"], rows)
    table(["disk", "path in nodes", "loop", "size", "format"],
          [[d["name"], d["path"], d["loop"], f"{d['size_bytes'] >> 20} MiB", d["format"]]
           for d in status["disks"]])
    paths = [[d["name"], node, p["loop"], p["state"]]
             for d in status["disks"] for node, p in d.get("paths", {}).items()]
    if paths:
        table(["san disk", "node", "loop", "path"], paths)
    if status["client"]:
        client = status["client"]
        print(f"client: {client['address']} on {client['network']} "
              f"(`tandem lab exec client -- CMD`)")
    return 0


def _add_san_paths(record: LabRecord, status: dict[str, Any]) -> None:
    """Each san disk's per-node paths: loop device and state (ok or failed)."""
    layout = SanLayout(LabNames(record.name))
    for disk, entry in zip(record.disks, status["disks"], strict=True):
        if disk.storage == "san":
            entry["storage"] = "san"
            entry["paths"] = {node: {"loop": p.loop,
                                     "state": "failed" if layout.failed(node) else "ok"}
                              for node, p in disk.paths.items()}


def cmd_exec(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise LabError("nothing to run: tandem lab exec NODE -- COMMAND [ARGS...]")
    record, config = builder.load_lab(args.lab)
    argv = NodeControl(record, config).exec_argv(args.node, command)
    sys.stdout.flush()
    os.execvp(argv[0], argv)
    return 127  # not reached


def cmd_node_fault(args: argparse.Namespace) -> int:
    record, config = builder.load_lab(args.lab)
    control = NodeControl(record, config)
    getattr(control, args.fault)(args.node)
    print(f"{args.node}: {args.fault} done")
    return 0


def cmd_crash(args: argparse.Namespace) -> int:
    if args.delay is not None and not args.storage:
        raise UsageError("--delay goes with --storage")
    delay = 0.5 if args.delay is None else args.delay
    if delay < 0:
        raise UsageError(f"--delay must be 0 or more seconds, got {delay}")
    record, config = builder.load_lab(args.lab)
    control = NodeControl(record, config)
    if args.storage:
        control.fail_storage(args.node)
        time.sleep(delay)
    control.crash(args.node)
    print(f"{args.node}: crash done" + (f" (paths failed {delay} s before)"
                                        if args.storage else ""))
    return 0


def cmd_storage(args: argparse.Namespace) -> int:
    record, config = builder.load_lab(args.lab)
    control = NodeControl(record, config)
    if args.action == "fail":
        control.fail_storage(args.node)
    elif args.action == "restore":
        control.restore_storage(args.node)
    state = "failed" if control.storage_failed(args.node) else "ok"
    print(f"{args.node}: san paths {state}")
    return 0


def cmd_cable(args: argparse.Namespace) -> int:
    record, config = builder.load_lab(args.lab)
    faults = NetworkFaults(record, config)
    getattr(faults, args.fault)(args.node, args.net, bmc=args.bmc)
    what = "BMC cable" if args.bmc else f"cable on {args.net}"
    print(f"{args.node}: {what} {'pulled' if args.fault == 'cut' else 'plugged back'}")
    return 0


def cmd_netem(args: argparse.Namespace) -> int:
    record, config = builder.load_lab(args.lab)
    loss, delay = (0.0, 0.0) if args.clear else (args.loss, args.delay)
    how = NetworkFaults(record, config).netem(args.node, args.net, loss_pct=loss,
                                              delay_ms=delay)
    print(f"{args.node} on {args.net}: loss {loss}% delay {delay} ms ({how})")
    return 0


def cmd_power(args: argparse.Namespace) -> int:
    record, config = builder.load_lab(args.lab)
    try:
        node = config.node(args.node)
    except KeyError as exc:
        raise LabError(str(exc.args[0])) from None
    bmc = node.bmc
    if bmc is None:
        raise LabError(f"node {args.node} has no BMC")
    control = NodeControl(record, config)
    env_password = bmc_password(record.name, node)
    argv = control.exec_argv("client", [
        "ipmitool", "-I", "lanplus", "-H", bmc.address, "-p", str(bmc.port), "-U", bmc.user,
        "-E", "-N", "1", "-R", "3", "chassis", "power", args.action])
    os.environ["IPMI_PASSWORD"] = env_password
    result = run(argv, check=False, timeout=30)
    output = (result.stdout or result.stderr).strip()
    if result.returncode != 0:
        raise LabError(f"BMC of {args.node}: {output or 'ipmitool failed'}")
    print(f"{args.node}: {output}")
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    def report(violation: Violation) -> None:
        print(f"SPLIT BRAIN {violation.kind}: {violation.subject} on "
              f"{' and '.join(violation.nodes)}", flush=True)

    watch = SplitBrainWatch(args.lab, interval_s=args.interval / 1000.0, on_violation=report)
    deadline = time.monotonic() + args.duration if args.duration > 0 else None
    print(f"watching lab {watch.lab} every {args.interval:.0f} ms (Ctrl-C to stop)",
          flush=True)
    with watch:
        try:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
    for violation in watch.violations:
        print(violation.describe())
    health = watch.health()  # a watch that could not look proves nothing
    if health:
        print(f"WATCH FAILED: {health}")
    summary: dict[str, Any] = {"samples": watch.samples, "failed": watch.failed,
                               "violations": len(watch.violations), "errors": watch.errors}
    print(json.dumps(summary))
    return 1 if watch.violations or health else 0
