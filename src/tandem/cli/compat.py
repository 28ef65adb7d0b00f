"""Seed-compatible front ends: `clustat`, `clusvcadm` and `cs`, as their own commands.

They speak the options administrators of the old cluster suite know, and do their work
through the same control socket and code as `tandem status` / `tandem svc`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import signal
import sys
import threading
import time
import xml.etree.ElementTree as ET
from typing import Any

from tandem import __version__
from tandem.cli.client import call, cell_status
from tandem.cli.compat_clustat import SCRIPT_COLUMNS, exit_code, rhel5_text, service_key
from tandem.cli.guard import guarded
from tandem.cli.svc_cmd import DEFAULT_TIMEOUT_S, request_and_wait
from tandem.common.errors import TandemError
from tandem.common.status import CellStatus

QUIET_NO_ANSWER = 2  # `clustat -Q`: 0 quorate, 1 not quorate, 2 no answer
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


# -- clustat -------------------------------------------------------------------------------
def clustat_text(status: CellStatus, service: str | None, member: str | None) -> str:
    """tandem's own layout (`clustat --tandem`): the tables of the old clustat with the
    coordinator and every node state."""
    lines = [f"Cluster Status for {status.cluster} @ {time.strftime('%a %b %d %H:%M:%S %Y')}",
             f"Member Status: {'Quorate' if status.quorate else 'Inquorate'}, "
             f"Group Member", ""]
    if service is None:
        lines += [f"  {'Member Name':<32} {'ID':>4}   Status", f"  {'------ ----':<32} "
                  f"{'----':>4}   ------"]
        for node in status.nodes:
            if member is not None and node.name != member:
                continue
            flags = [node.state.capitalize()]
            if node.local:
                flags.append("Local")
            if status.coordinator == node.name:
                flags.append("Coordinator")
            lines.append(f"  {node.name:<32} {node.id:>4}   {', '.join(flags)}")
        if status.qdisk and member is None:
            state = "Online" if status.qdisk.online else "Offline"
            lines.append(f"  {'/dev/block ' + status.qdisk.device:<32} "
                         f"{'0':>4}   {state}, Quorum Disk")
        lines.append("")
    if member is None:
        lines += [f"  {'Service Name':<24} {'Owner (Last)':<28} State",
                  f"  {'------- ----':<24} {'----- ------':<28} -----"]
        for row in status.services:
            if service is not None and row.name != service:
                continue
            owner = row.owner or (f"({row.last_owner})" if row.last_owner else "(none)")
            lines.append(f"  service:{row.name:<16} {owner:<28} {row.state}")
    return "\n".join(lines)


def clustat_xml(status: CellStatus) -> str:
    root = ET.Element("clustat", version="tandem")
    ET.SubElement(root, "cluster", name=status.cluster,
                  config_version=str(status.config_version))
    ET.SubElement(root, "quorum", quorate="1" if status.quorate else "0",
                  groupmember="1")
    nodes = ET.SubElement(root, "nodes")
    for node in status.nodes:
        ET.SubElement(nodes, "node", name=node.name, state=node.state,
                      local="1" if node.local else "0", nodeid=f"0x{node.id:08x}")
    groups = ET.SubElement(root, "groups")
    for row in status.services:
        ET.SubElement(groups, "group", name=f"service:{row.name}", state_str=row.state,
                      owner=row.owner or "none", last_owner=row.last_owner or "none")
    ET.indent(root)
    return '<?xml version="1.0"?>\n' + ET.tostring(root, encoding="unicode")


def clustat_main(argv: list[str] | None = None) -> int:
    """`clustat` with rgmanager's options; the layout of RHEL 5 unless --tandem."""
    parser = argparse.ArgumentParser(prog="clustat", description="cell status")
    parser.add_argument("-i", dest="interval", type=float, metavar="SECONDS",
                        help="refresh every SECONDS until Ctrl-C (not with -x)")
    parser.add_argument("-s", dest="service", help="show only this service; exit 0 "
                        "while it runs, else its rgmanager state number")
    parser.add_argument("-m", dest="member", help="show only this member")
    parser.add_argument("-Q", dest="quiet", action="store_true",
                        help="print nothing; exit 0 if quorate, 1 if not, 2 on error")
    parser.add_argument("-x", dest="xml", action="store_true", help="XML output")
    parser.add_argument("-l", dest="long", action="store_true",
                        help="long format for services")
    parser.add_argument("-f", dest="fast", action="store_true",
                        help="fast report from this node's view (always so here: "
                             "tandem's status takes no cluster-wide lock)")
    parser.add_argument("-v", dest="version", action="store_true",
                        help="print the version and exit")
    parser.add_argument("-I", dest="node_id", action="store_true",
                        help="print the local node ID and exit")
    parser.add_argument("--tandem", action="store_true",
                        help="tandem's own layout (coordinator, node states, notes)")
    args = parser.parse_args(argv)
    if args.version:
        print(f"clustat version {__version__}")
        return 0
    if args.interval is not None and args.xml:
        print("Error: Options '-i' and '-x' are mutually exclusive")
        return 1
    if args.quiet:
        try:
            return 0 if cell_status().quorate else 1
        except TandemError:
            return QUIET_NO_ANSWER
    return guarded("clustat", lambda: _clustat_loop(args))


def _clustat_text(args: argparse.Namespace, status: CellStatus) -> str:
    if args.xml:
        return clustat_xml(status)
    if args.tandem:
        return clustat_text(status, args.service and service_key(args.service),
                            args.member)
    tty = sys.stdout.isatty()
    columns = shutil.get_terminal_size().columns if tty else SCRIPT_COLUMNS
    return rhel5_text(status, args.service, args.member, columns=columns, tty=tty,
                      long=args.long)


def _clustat_loop(args: argparse.Namespace) -> int:
    """Draw once, or every -i seconds until SIGINT/SIGTERM (the handlers only set a
    flag: the loop ends after its current draw, as rgmanager's does)."""
    stop = threading.Event()
    interval = max(args.interval, 1e-3) if args.interval is not None else None
    saved = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in STOP_SIGNALS} \
        if interval else {}
    try:
        while True:
            status = cell_status()
            if args.node_id:
                print(f"0x{next(n.id for n in status.nodes if n.local):08x}")
                return 0
            if interval:
                print("\033[H\033[2J" if sys.stdout.isatty() else "", end="")
            print(_clustat_text(args, status), flush=True)
            if not interval or stop.wait(interval):
                return exit_code(status, args.service, args.member)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


# -- clusvcadm -----------------------------------------------------------------------------
SERVICE_FLAGS = (("-e", "enable", "enable and start a service (here, unless -m or -F)"),
                 ("-d", "disable", "stop and disable a service"),
                 ("-s", "stop", "stop a service without disabling it: it starts again "
                                "on -e or when a node joins or leaves the cell"),
                 ("-r", "relocate", "relocate a service"),
                 ("-M", "relocate", "migrate: tandem has no live migration, this is a "
                                    "relocation (stopped there, then started here)"),
                 ("-R", "restart", "restart a service in place"),
                 ("-Z", "freeze", "freeze a service (no monitoring/recovery)"),
                 ("-U", "unfreeze", "unfreeze a service"))
CELL_FLAGS = (("-l", "lock", "lock the cell for a whole-cell shutdown: no service starts "
                             "anywhere, failover included, until -u"),
              ("-u", "unlock", "unlock the cell: services start again"),
              ("-S", "show-lock", "show whether the cell is locked"),
              ("-v", "version", "print the version and exit"))


def clusvcadm_main(argv: list[str] | None = None) -> int:
    """`clusvcadm` with rgmanager's options, through the same requests as `tandem svc`."""
    parser = argparse.ArgumentParser(prog="clusvcadm", description="service administration")
    group = parser.add_mutually_exclusive_group(required=True)
    for flag, action, text in SERVICE_FLAGS:
        group.add_argument(flag, dest="request", metavar="SERVICE", action=_Pick, help=text,
                           const=action)
    for flag, action, text in CELL_FLAGS:
        group.add_argument(flag, dest="request", action="store_const", help=text,
                           const=(action, None))
    parser.add_argument("-m", dest="member", help="member to start or relocate it on")
    parser.add_argument("-F", dest="follow", action="store_true",
                        help="with -e: start it where its failover domain prefers")
    parser.add_argument("-q", dest="quiet", action="store_true",
                        help="quiet: nothing on stdout, no progress; errors still shown")
    parser.add_argument("-w", dest="timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        metavar="SECONDS", help="wait at most this long for the outcome")
    args = parser.parse_args(argv)
    action, service = args.request
    if args.member and action not in ("enable", "relocate"):
        parser.error("-m goes with -e, -r or -M")
    if args.follow and (action != "enable" or args.member):
        parser.error("-F goes with -e, without -m")
    if action == "version":
        print(f"clusvcadm version {__version__}")
        return 0
    out = contextlib.redirect_stdout(io.StringIO()) if args.quiet \
        else contextlib.nullcontext()
    with out:
        return guarded("clusvcadm", lambda: _clusvcadm(action, service, args))


def _clusvcadm(action: str, service: str | None, args: argparse.Namespace) -> int:
    if action == "show-lock":
        locked = cell_status().locked
        print("Resource groups locked" if locked else "Resource groups unlocked")
        return 0
    if service is None:  # lock, unlock: the cell's own request
        print(call("svc", {"action": action, "service": "", "node": None}))
        return 0
    member = args.member
    if action == "enable" and member is None and not args.follow:
        member = cell_status().local  # rgmanager starts it where clusvcadm runs
    return request_and_wait(action, service, member, args.timeout,
                            say=None if args.quiet else _progress)


class _Pick(argparse.Action):
    """Store (action, service) for whichever of the exclusive flags was given."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, (self.const, values))


def _progress(line: str) -> None:
    print(f"... {line}", file=sys.stderr, flush=True)
