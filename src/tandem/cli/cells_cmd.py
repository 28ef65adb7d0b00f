"""`tandem cells configure | push | start | stop | status | check`: one operation on the
selected members of many cells, from the management node (tandem.fleet).

Nodes are selected as the manual's stordepha does: all (-a) or a node set (-i), minus
a node set (-e); `@CELL` and `@KIND` name a cell's members or those of every cell of a
kind. Exit status: 0 when every selected node answered and succeeded, 1 when some did
not (named in one line at the end), 2 for a bad command line or selection.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from tandem.cli.cells_view import ProgressBar, show
from tandem.cli.common import Sub, UsageError
from tandem.cli.render import print_json
from tandem.common.errors import EXIT_FAILED, EXIT_OK
from tandem.fleet.operations import Fleet
from tandem.fleet.report import Outcome
from tandem.fleet.settings import FleetSettings, load_settings
from tandem.fleet.source import CellSource, Selection
from tandem.fleet.transport import ClusterShellTransport

OPERATIONS = {
    "configure": "check each selected cell's configuration and show what a push would "
                 "change on each node",
    "push": "send each selected node its cell's configuration and have it loaded",
    "start": "start tandemd on the selected nodes (cs -c start)",
    "stop": "stop tandemd on the selected nodes (cs -c stop): their services move",
    "status": "each cell's state: in sync, stale, unreachable, refused, what runs where",
    "check": "check the installed configuration on each selected node",
}


def register(sub: Sub) -> None:
    cells = sub.add_parser("cells", help="operations over many cells from the management "
                                         "node", description=__doc__)
    cells.set_defaults(group_parser=cells)
    cmds = cells.add_subparsers(title="operations", metavar="OPERATION")
    for name, text in OPERATIONS.items():
        op = cmds.add_parser(name, help=text, description=text)
        add_selection(op)
        add_options(op)
        if name == "configure":
            op.add_argument("--diff", action="store_true",
                            help="also show each change as a unified diff")
        if name == "push":
            op.add_argument("--with-key", action="store_true",
                            help="also send each cell's key (KEY_DIR/CELL.key) and the "
                                 "password files its configuration names, on stdin, for "
                                 "reinstalled nodes; never printed or logged")
        op.set_defaults(func=cmd_cells, operation=name)


def add_selection(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("-a", "--all", action="store_true", help="every node of every cell")
    which.add_argument("-i", "--include", metavar="NODESET", default="",
                       help="these nodes (io[1-4], @ROLE, @KIND, @cell:NAME; with "
                            "--from-dir: @CELL, @KIND)")
    parser.add_argument("-e", "--exclude", metavar="NODESET", default="",
                        help="but not these nodes")


def add_options(parser: argparse.ArgumentParser) -> None:
    """Where cells come from, how nodes are reached, how the outcome is shown."""
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--db", metavar="URL",
                        help="the inventory database (default: $TANDEM_DB, else "
                             "sqlite:////var/lib/tandem/inventory.db)")
    parser.add_argument("--from-dir", metavar="DIR",
                        help="cells from a directory of cell files (and site.toml) "
                             "instead of the inventory")
    parser.add_argument("--fleet-config", metavar="FILE",
                        help="transport settings (default: /etc/tandem/fleet.toml if any)")
    parser.add_argument("--fanout", type=int, metavar="N", help="nodes at a time")
    parser.add_argument("--connect-timeout", type=int, metavar="S")
    parser.add_argument("--timeout", type=float, metavar="S",
                        help="how long each node's command may take")
    parser.add_argument("--remote-path", metavar="DIR",
                        help="put DIR in front of PATH on the nodes")
    parser.add_argument("--key-dir", metavar="DIR", help="where CELL.key files are")
    parser.add_argument("--ssh-user", metavar="USER")
    parser.add_argument("--ssh-identity", metavar="FILE")
    parser.add_argument("--ssh-known-hosts", metavar="FILE")
    parser.add_argument("--exec", dest="exec_template", metavar="TEMPLATE",
                        help="run each node's command locally through TEMPLATE instead "
                             "of ssh (%%h: node, %%c: the command): tests, benchmarks")


def open_source(args: argparse.Namespace) -> CellSource:
    """Where the cells come from."""
    if args.from_dir:
        from tandem.fleet.directory import DirectorySource

        return DirectorySource(args.from_dir)
    from tandem.inventory.database import Database
    from tandem.inventory.source import InventorySource

    return InventorySource(Database(args.db))


def settings_of(args: argparse.Namespace) -> FleetSettings:
    """The fleet file's settings, with the command line's on top."""
    base = load_settings(args.fleet_config)
    if args.fanout is not None and args.fanout < 1:
        raise UsageError(f"--fanout must be at least 1, got {args.fanout}")
    ssh = dataclasses.replace(
        base.ssh, **_given(user=args.ssh_user, identity_file=args.ssh_identity,
                           known_hosts=args.ssh_known_hosts))
    return dataclasses.replace(
        base, ssh=ssh, **_given(fanout=args.fanout, connect_timeout=args.connect_timeout,
                                remote_path=args.remote_path, key_dir=args.key_dir,
                                exec_template=args.exec_template))


def _given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def run_operation(args: argparse.Namespace, *, qdisk: bool | None = None) -> Outcome:
    """Run `args.operation` as the command line asked."""
    selection = Selection(all=args.all, include=args.include, exclude=args.exclude)
    settings = settings_of(args)
    fleet = Fleet(open_source(args), ClusterShellTransport(settings), settings,
                  timeout=args.timeout)
    operation = args.operation
    with ProgressBar(operation) as bar:
        if operation == "status":
            return fleet.status(selection, bar)
        if operation == "configure":
            return fleet.configure(selection, bar, diff=getattr(args, "diff", False),
                                   qdisk=qdisk)
        if operation == "push":
            return fleet.push(selection, bar, with_key=getattr(args, "with_key", False),
                              qdisk=qdisk)
        return fleet.command(operation, selection, bar)


def cmd_cells(args: argparse.Namespace) -> int:
    return report(run_operation(args), as_json=args.json)


def report(outcome: Outcome, *, as_json: bool, prog: str = "tandem") -> int:
    """Show `outcome`; the exit status it calls for."""
    if as_json:
        print_json(outcome.to_json())
    else:
        show(outcome)
    if outcome.record_error:
        print(f"{prog}: warning: {outcome.record_error}", file=sys.stderr)
    if not outcome.ok:
        print(f"{prog}: {outcome.failure_line()}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK

