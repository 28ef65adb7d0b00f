"""Seed-compatible front ends: `clustat`, `clusvcadm` and `cs`, as their own commands.

They speak the options administrators of the old cluster suite know, and do their work
through the same control socket and code as `tandem status` / `tandem svc`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from typing import Any

from tandem.cli.client import ControlError, call, cell_status, socket_path
from tandem.cli.guard import guarded
from tandem.cli.svc_cmd import DEFAULT_TIMEOUT_S, request_and_wait
from tandem.common.errors import TandemError
from tandem.common.status import CellStatus

QUIET_NO_ANSWER = 2  # `clustat -Q`: 0 quorate, 1 not quorate, 2 no answer


# -- clustat -------------------------------------------------------------------------------
def clustat_text(status: CellStatus, service: str | None, member: str | None) -> str:
    """The member table and the service table, in the layout of the old clustat."""
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
    parser = argparse.ArgumentParser(prog="clustat", description="cell status")
    parser.add_argument("-i", dest="interval", type=float, metavar="SECONDS",
                        help="refresh every SECONDS")
    parser.add_argument("-s", dest="service", help="show only this service")
    parser.add_argument("-m", dest="member", help="show only this member")
    parser.add_argument("-Q", dest="quiet", action="store_true",
                        help="print nothing; exit 0 if quorate, 1 if not, 2 on error")
    parser.add_argument("-x", dest="xml", action="store_true", help="XML output")
    args = parser.parse_args(argv)

    def body() -> int:
        while True:
            status = cell_status()
            if args.quiet:
                return 0 if status.quorate else 1
            text = clustat_xml(status) if args.xml else \
                clustat_text(status, args.service, args.member)
            if args.interval:
                print("\033[H\033[2J" if sys.stdout.isatty() else "", end="")
            print(text, flush=True)
            if not args.interval:
                return 0
            time.sleep(args.interval)

    if args.quiet:
        try:
            return body()
        except TandemError:
            return QUIET_NO_ANSWER
    return guarded("clustat", body)


# -- clusvcadm -----------------------------------------------------------------------------
def clusvcadm_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="clusvcadm", description="service administration")
    group = parser.add_mutually_exclusive_group(required=True)
    for flag, action, text in (("-e", "enable", "enable (start) a service"),
                               ("-d", "disable", "disable (stop) a service"),
                               ("-r", "relocate", "relocate a service"),
                               ("-R", "restart", "restart a service in place"),
                               ("-Z", "freeze", "freeze a service (no monitoring/recovery)"),
                               ("-U", "unfreeze", "unfreeze a service")):
        group.add_argument(flag, dest="request", metavar="SERVICE", action=_Pick, help=text,
                           const=action)
    parser.add_argument("-m", dest="member", help="member to start or relocate it on")
    parser.add_argument("-w", dest="timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        metavar="SECONDS", help="wait at most this long for the outcome")
    args = parser.parse_args(argv)
    action, service = args.request
    if args.member and action not in ("enable", "relocate"):
        parser.error("-m goes with -e or -r")
    return guarded("clusvcadm", lambda: request_and_wait(action, service, args.member,
                                                          args.timeout, say=_progress))


class _Pick(argparse.Action):
    """Store (action, service) for whichever of the exclusive flags was given."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, (self.const, values))


def _progress(line: str) -> None:
    print(f"... {line}", file=sys.stderr, flush=True)


# -- cs ------------------------------------------------------------------------------------
def cs_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cs", description="start or stop the local "
                                                            "tandem daemon")
    parser.add_argument("-c", dest="command", required=True, choices=["start", "stop",
                                                                       "status"])
    parser.add_argument("-w", dest="timeout", type=float, default=60.0, metavar="SECONDS")
    args = parser.parse_args(argv)
    actions = {"start": cs_start, "stop": cs_stop, "status": cs_status}
    return guarded("cs", lambda: actions[args.command](args.timeout))


def _running() -> dict[str, Any] | None:
    try:
        answer: dict[str, Any] = call("ping", timeout=3)
        return answer
    except ControlError:
        return None


def cs_status(_: float) -> int:
    ping = _running()
    print(f"tandemd is running on {ping['node']} (pid {ping['pid']})" if ping
          else "tandemd is not running")
    return 0 if ping else 3


def cs_start(timeout: float) -> int:
    if _running():
        print("tandemd is already running")
        return 0
    if shutil.which("systemctl") and os.path.isdir("/run/systemd/system"):
        subprocess.run(["systemctl", "start", "tandemd"], check=True, timeout=timeout)
    else:
        tandemd = shutil.which("tandemd") or "tandemd"
        subprocess.Popen([tandemd], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _running():
            print("tandemd started")
            return 0
        time.sleep(0.1)
    print(f"cs: tandemd did not answer on {socket_path()} within {timeout:g} s "
          f"(see /var/log/tandem/tandemd.log)", file=sys.stderr)
    return 1


def cs_stop(timeout: float) -> int:
    ping = _running()
    if ping is None:
        print("tandemd is not running")
        return 0
    print("stopping tandemd: its services stop here and move to the other members")
    os.kill(int(ping["pid"]), signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _running() is None:
            print("tandemd stopped")
            return 0
        time.sleep(0.2)
    print(f"cs: tandemd still runs after {timeout:g} s", file=sys.stderr)
    return 1
